"""The ParkCluster reconciler over the SQLite store and a fake KubeRay: queued without pods, owner
references, spec changes, and foreign children (services: test_services.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.loading import load_documents
from park.core.resources import Admission, AnyResource
from park.operator.reconcilers import Reconcilers
from park.operator.settings import OperatorSettings
from tests.fakes import FakeKubeRay


@pytest.fixture
def world(tmp_path: Path) -> tuple[SQLiteStore, FakeKubeRay, Reconcilers]:
    clock = FakeClock()
    store = SQLiteStore(tmp_path / "park.db", clock=clock)
    ray = FakeKubeRay()
    settings = OperatorSettings(ray_image="img:test", jobs_root="/jobs")
    return store, ray, Reconcilers(store=store, children=ray, settings=settings, clock=clock)


def create(store: SQLiteStore, text: str) -> AnyResource:
    (obj,) = load_documents(text, source="test")
    obj = obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"namespace": "ns"})})
    return store.create(obj)


JOB = """
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: train}
spec: {entrypoint: python train.py, resources: {replicas: 2, perReplica: {cpu: 1, gpu: 1}}}
"""


CLUSTER = """
apiVersion: park.dev/v1alpha1
kind: ParkCluster
metadata: {name: gpus}
spec: {workerGroups: [{name: g, replicas: 1, resources: {cpu: 2, gpu: 1}}]}
"""


def test_a_cluster_is_created_updated_on_spec_change_and_mirrored(world: Any) -> None:
    store, ray, reconcilers = world
    cluster = create(store, CLUSTER)
    reconcilers.reconcile("ParkCluster", "ns", "gpus")
    body = ray.get("RayCluster", "ns", "gpus")
    assert body["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] == "img:test"
    assert store.get("ParkCluster", "ns", "gpus").status.phase == "Pending"

    ray.set_status("RayCluster", "gpus", {"state": "ready", "head": {"serviceName": "gpus-head-svc"}})
    reconcilers.reconcile("ParkCluster", "ns", "gpus")
    ready = store.get("ParkCluster", "ns", "gpus")
    assert ready.status.phase == "Ready" and ready.status.dashboard_url == "http://gpus-head-svc.ns.svc:8265"

    group = cluster.spec.worker_groups[0].model_copy(update={"replicas": 3, "max_replicas": 3})
    store.update(ready.model_copy(update={"spec": ready.spec.model_copy(update={"worker_groups": [group]})}))
    reconcilers.reconcile("ParkCluster", "ns", "gpus")
    assert ray.get("RayCluster", "ns", "gpus")["spec"]["workerGroupSpecs"][0]["replicas"] == 3


def test_a_child_owned_by_someone_else_is_not_touched(world: Any) -> None:
    store, ray, reconcilers = world
    ray.create({"kind": "RayCluster", "metadata": {"name": "gpus", "namespace": "ns"}, "spec": {"x": 1}})
    create(store, CLUSTER)
    reconcilers.reconcile("ParkCluster", "ns", "gpus")
    assert ray.get("RayCluster", "ns", "gpus")["spec"] == {"x": 1}
    assert store.get("ParkCluster", "ns", "gpus").status.phase == "Pending"


CHARGED = """
apiVersion: park.dev/v1alpha1
kind: ParkCluster
metadata: {name: gpus}
spec: {queue: team, workerGroups: [{name: g, replicas: 2, resources: {cpu: 2, gpu: 1}}]}
"""


def admit(store: SQLiteStore, kind: str, name: str, admitted: bool) -> None:
    obj = store.get(kind, "ns", name)
    admission = Admission(admitted=admitted, queue="team", message="waiting: needs 2 gpu, team has 1 free")
    store.update_status(
        obj.model_copy(update={"status": obj.status.model_copy(update={"admission": admission})})
    )


def test_a_cluster_charged_to_a_queue_gets_its_raycluster_only_while_admitted(world: Any) -> None:
    store, ray, reconcilers = world
    create(store, CHARGED)
    admit(store, "ParkCluster", "gpus", admitted=False)
    reconcilers.reconcile("ParkCluster", "ns", "gpus")
    queued = store.get("ParkCluster", "ns", "gpus")
    assert ray.get("RayCluster", "ns", "gpus") is None
    assert (queued.status.phase, queued.status.message) == ("Queued", "waiting: needs 2 gpu, team has 1 free")

    admit(store, "ParkCluster", "gpus", admitted=True)
    reconcilers.reconcile("ParkCluster", "ns", "gpus")
    assert ray.get("RayCluster", "ns", "gpus") is not None
    # `park get clusters` reads Ray's names: the head's default CPU and both workers.
    assert store.get("ParkCluster", "ns", "gpus").status.resources == {"CPU": 5.0, "GPU": 2.0}

    admit(store, "ParkCluster", "gpus", admitted=False)  # re-queued: its pods go, as a suspended job's
    reconcilers.reconcile("ParkCluster", "ns", "gpus")
    assert ray.get("RayCluster", "ns", "gpus") is None
    assert store.get("ParkCluster", "ns", "gpus").status.phase == "Queued"
