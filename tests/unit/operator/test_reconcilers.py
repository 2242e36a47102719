"""The reconcilers over the SQLite store and a fake KubeRay: suspend on lost admission, resume with a new
attempt, idempotent passes, retries on 409, owner references, spec changes, and foreign children."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.loading import load_documents
from park.core.resources import Admission, AnyResource, ServiceAdmission
from park.operator.reconcilers import MODEL_POLL_SECONDS, Reconcilers
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_objects import PLURALS


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class FakeKubeRay:
    """KubeRayObjects with the API server's manners: resourceVersions, 409 on stale patches and re-create."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.writes = 0
        self.conflicts_to_inject = 0
        self._rv = 0

    def _bump(self, body: dict[str, Any]) -> dict[str, Any]:
        self._rv += 1
        self.writes += 1
        body["metadata"]["resourceVersion"] = str(self._rv)
        return copy.deepcopy(body)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        key = (body["kind"], body["metadata"]["namespace"], body["metadata"]["name"])
        if key in self.objects:
            return copy.deepcopy(self.objects[key]), False
        self.objects[key] = copy.deepcopy(body)
        return self._bump(self.objects[key]), True

    def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        assert kind in PLURALS
        current = self.objects[(kind, namespace, name)]
        wanted = patch.get("metadata", {}).get("resourceVersion")
        if self.conflicts_to_inject:
            self.conflicts_to_inject -= 1
            self._bump(current)  # someone else wrote meanwhile
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        merge(current, {k: v for k, v in patch.items() if k != "metadata"})
        merge(
            current["metadata"],
            {k: v for k, v in patch.get("metadata", {}).items() if k != "resourceVersion"},
        )
        return self._bump(current)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.objects.pop((kind, namespace, name), None)

    def set_status(self, kind: str, name: str, status: dict[str, Any]) -> None:
        self.objects[(kind, "ns", name)]["status"] = status


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


CHAT = """
apiVersion: park.dev/v1alpha1
kind: ParkService
metadata: {name: chat}
spec:
  applications:
  - {name: llm, import_path: park.workloads.serve.app:build, args: {model: "job:charlm"}}
"""
TRAIN = """
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: charlm}
spec: {workload: {name: train}}
"""


def test_a_services_job_model_is_resolved_to_the_jobs_checkpoint_as_on_park_up(world: Any) -> None:
    store, ray, reconcilers = world
    create(store, TRAIN)
    create(store, CHAT)
    look_again = reconcilers.reconcile("ParkService", "ns", "chat")
    assert look_again == MODEL_POLL_SECONDS, "no event says a checkpoint appeared: it looks again soon"
    waiting = store.get("ParkService", "ns", "chat")
    assert waiting.status.phase == "Pending"
    assert waiting.status.message == "waiting for ParkJob charlm to write a checkpoint to serve"

    job = store.get("ParkJob", "ns", "charlm")
    checkpoint = "s3://park/jobs/ns/charlm/checkpoints/step-40"
    store.update_status(
        job.model_copy(update={"status": job.status.model_copy(update={"checkpoint": checkpoint})})
    )
    assert reconcilers.reconcile("ParkService", "ns", "chat") is None
    assert store.get("ParkService", "ns", "chat").status.phase == "Queued"

    service = store.get("ParkService", "ns", "chat")
    granted = ServiceAdmission(queue="default", admitted_at=service.metadata.creation_timestamp)
    store.update_status(
        service.model_copy(update={"status": service.status.model_copy(update={"admission": granted})})
    )
    reconcilers.reconcile("ParkService", "ns", "chat")
    (app,) = yaml.safe_load(ray.get("RayService", "ns", "chat")["spec"]["serveConfigV2"])["applications"]
    assert app["args"]["model"] == checkpoint
