"""ParkClusters on both substrates: `park up`'s cluster controller and planner over a local head, and the
same over the KubeRay adapter (the operator's wiring), with the SQLite store in both. A cluster goes through
the same phases, events, restarts and queued/admitted behaviour; on Kubernetes as a RayCluster it owns."""

from __future__ import annotations

import asyncio
import copy
import itertools
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from park.control.controllers.clusters import ClusterReconciler
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.errors import SubstrateError
from park.core.loading import load_documents
from park.core.resources import Admission, AnyResource, ParkCluster, ResourceKey
from park.operator.controllers import cluster_reconciler
from park.operator.settings import OperatorSettings
from park.substrates.interface import ClusterHandle, HeadConfig
from park.substrates.local_ray import LocalRaySubstrate
from tests.fakes import FakeKubeRay
from tests.unit.operator.test_kuberay_clusters import FAILED, READY

GPUS = """
apiVersion: park.dev/v1alpha1
kind: ParkCluster
metadata: {name: gpus}
spec: {queue: team, workerGroups: [{name: g, replicas: 2, resources: {cpu: 2, gpu: 1}}]}
"""
WAITING = "waiting: needs 2 gpu, team has 1 free"


class LocalHeads(LocalRaySubstrate):
    """`park up`'s substrate with its Ray seams replaced: `ensure_cluster` starts a head that answers at
    once (as the real one returns only then), `refuse` makes starting fail as `ray start` can."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(state_dir=tmp_path)
        self.running: ClusterHandle | None = None
        self.refuse = False
        self._pids = itertools.count(100)

    def ensure_cluster(self, key: str, config: HeadConfig) -> ClusterHandle:
        if self.refuse:
            raise SubstrateError(f"cannot start a Ray head for cluster {key}: ray start exited with 1")
        if self.running is None or self.running.config != config:
            url, gcs = "http://127.0.0.1:8265", "127.0.0.1:6379"
            self.running = ClusterHandle(key, url, gcs, "t", next(self._pids), config)
        return self.running

    def get_cluster(self, key: str) -> ClusterHandle | None:
        return self.running

    def stop_cluster(self, key: str) -> None:
        self.running = None

    def cluster_resources(self, handle: ClusterHandle) -> dict[str, float]:
        config = handle.config
        held = {
            "CPU": config.num_cpus,
            "GPU": float(config.num_gpus),
            "memory": float(config.memory_bytes or 0),
        }
        return {name: amount for name, amount in held.items() if amount}


class World:
    """One substrate under the same controller, with the SQLite store."""

    def __init__(self, tmp_path: Path, substrate: str) -> None:
        self.substrate = substrate
        self.store = SQLiteStore(tmp_path / "park.db", clock=FakeClock())
        if substrate == "park up":
            self.heads = LocalHeads(tmp_path)
            self.reconciler = ClusterReconciler(
                store=self.store, substrate=self.heads, clock=FakeClock(), check_every=5.0
            )
        else:
            self.kuberay = FakeKubeRay()
            settings = OperatorSettings(ray_image="img:test", jobs_root="/jobs")
            self.reconciler = cluster_reconciler(self.store, k8s.ApiClient(), settings, self.kuberay)
        create(self.store, GPUS)

    def reconcile(self) -> float | None:
        return asyncio.run(self.reconciler.reconcile(ResourceKey("ParkCluster", "ns", "gpus")))

    def settle(self) -> None:
        """Reconcile, let the substrate bring up what was declared, reconcile again."""
        self.reconcile()
        self.comes_up()
        self.reconcile()

    def comes_up(self) -> None:
        """KubeRay's pods become ready (a local head answers as soon as it is started)."""
        if self.substrate == "kuberay" and self.raycluster() is not None:
            status = copy.deepcopy(READY)
            status["head"]["serviceName"] = "gpus-head-svc"
            self.kuberay.set_status("RayCluster", "gpus", status)

    def dies(self) -> None:
        if self.substrate == "park up":
            self.heads.running = None
        else:
            self.kuberay.delete("RayCluster", "ns", "gpus")  # gone, as a head that died

    def running(self) -> bool:
        return (
            self.heads.running is not None if self.substrate == "park up" else self.raycluster() is not None
        )

    def raycluster(self) -> dict[str, Any] | None:
        return self.kuberay.get("RayCluster", "ns", "gpus")

    def cluster(self) -> ParkCluster:
        found = self.store.get("ParkCluster", "ns", "gpus")
        assert isinstance(found, ParkCluster)
        return found

    def reasons(self) -> list[str]:
        return [event.reason for event in self.store.list_events(kind="ParkCluster", name="gpus")]

    def admit(self, admitted: bool = True) -> None:
        admit(self.store, admitted)

    def requeue(self) -> None:
        admit(self.store, False)

    def grow(self) -> None:
        cluster = self.cluster()
        group = cluster.spec.worker_groups[0].model_copy(update={"replicas": 3, "max_replicas": 3})
        self.store.update(
            cluster.model_copy(update={"spec": cluster.spec.model_copy(update={"worker_groups": [group]})})
        )


def create(store: SQLiteStore, text: str) -> AnyResource:
    (obj,) = load_documents(text, source="test")
    obj = obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"namespace": "ns"})})
    return store.create(obj)


def admit(store: SQLiteStore, admitted: bool) -> None:
    obj = store.get("ParkCluster", "ns", "gpus")
    admission = Admission(admitted=admitted, queue="team", message="" if admitted else WAITING)
    store.update_status(
        obj.model_copy(update={"status": obj.status.model_copy(update={"admission": admission})})
    )


SUBSTRATES = ["park up", "kuberay"]


@pytest.fixture(params=SUBSTRATES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    return World(tmp_path, request.param)


def seen(world: World) -> dict[str, Any]:
    """What a user reads of the cluster, less the substrate's own words (addresses, progress)."""
    status = world.cluster().status
    ready = next((c.status for c in status.conditions if c.type == "Ready"), None)
    return {
        "phase": status.phase,
        "queued message": status.message if status.phase == "Queued" else None,
        "ready": ready,
        "restarts": status.restarts,
        "resources": status.resources,
        "reachable": (status.dashboard_url is not None, status.address is not None),
        "started": status.started_at is not None,
        "running": world.running(),
        "finalizers": world.cluster().metadata.finalizers if world.substrate == "kuberay" else [],
    }


def test_one_cluster_takes_the_same_course_on_both_substrates(tmp_path: Path) -> None:
    """Queued until admitted, Ready, a changed spec, a lost cluster, re-queued: same phases and events."""
    steps: dict[str, list[dict[str, Any]]] = {}
    events: dict[str, list[str]] = {}
    for substrate in SUBSTRATES:
        (tmp_path / substrate).mkdir()
        world = World(tmp_path / substrate, substrate)
        world.admit(False)
        for step in ("queued", "admitted", "grown", "lost", "re-queued"):
            {"admitted": world.admit, "grown": world.grow, "lost": world.dies}.get(step, world.requeue)()
            world.settle()
            steps.setdefault(substrate, []).append(seen(world))
        events[substrate] = world.reasons()
    assert steps["park up"] == steps["kuberay"]
    assert [step["phase"] for step in steps["kuberay"]] == ["Queued", "Ready", "Ready", "Ready", "Queued"]
    assert [step["restarts"] for step in steps["kuberay"]] == [0, 0, 0, 1, 1]
    assert steps["kuberay"][1]["resources"] == {"CPU": 5.0, "GPU": 2.0}, (
        "the head's default CPU, both workers"
    )
    assert steps["kuberay"][2]["resources"] == {"CPU": 7.0, "GPU": 3.0}
    # A local head restarts with a new spec; KubeRay changes the RayCluster in place.
    change = {"park up": "Restarting", "kuberay": "Updating"}
    for substrate in SUBSTRATES:
        # (a repeated event is one, counted: as Kubernetes' Events)
        assert events[substrate] == ["Ready", change[substrate], "HeadLost", "Stopping"]


def test_a_cluster_the_substrate_cannot_start_fails_with_one_event(world: World) -> None:
    world.admit()
    if world.substrate == "park up":
        world.heads.refuse = True
        with pytest.raises(SubstrateError):
            world.reconcile()
        message = "cannot start a Ray head for cluster ns.gpus: ray start exited with 1"
    else:
        world.reconcile()
        world.kuberay.set_status("RayCluster", "gpus", FAILED)
        world.reconcile()
        message = FAILED["conditions"][-1]["message"].replace("\n", ": ")
    failed = world.cluster()
    assert (failed.status.phase, failed.status.message) == ("Failed", message)
    assert world.reasons() == ["StartFailed"]


def test_on_kubernetes_a_pod_failure_that_clears_leaves_no_failure_behind(tmp_path: Path) -> None:
    world = World(tmp_path, "kuberay")
    world.admit()
    world.reconcile()
    world.kuberay.set_status("RayCluster", "gpus", FAILED)
    world.reconcile()
    assert {c.type: c.status for c in world.cluster().status.conditions}["ReplicaFailure"] == "True"
    world.comes_up()  # KubeRay could create the pods after all: it removes ReplicaFailure
    world.reconcile()
    ready = world.cluster()
    assert ready.status.phase == "Ready"
    assert {c.type: c.status for c in ready.status.conditions}["ReplicaFailure"] == "False"


def test_a_queued_cluster_waits_with_the_schedulers_reason_and_nothing_runs(world: World) -> None:
    world.admit(False)
    world.settle()
    queued = world.cluster()
    assert (queued.status.phase, queued.status.message) == ("Queued", WAITING)
    assert not world.running()


# Kubernetes only: what the RayCluster is made of and who owns it.


def test_on_kubernetes_the_raycluster_is_owned_patched_on_change_and_status_mirrored(tmp_path: Path) -> None:
    world = World(tmp_path, "kuberay")
    world.admit()
    assert world.reconcile() == 0.0, "look again at once: KubeRay writes a status soon"
    body = world.raycluster()
    assert body is not None
    assert body["metadata"]["ownerReferences"][0]["uid"] == world.cluster().metadata.uid
    assert body["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] == "img:test"
    world.reconcile()
    waiting = world.cluster()
    assert (waiting.status.phase, waiting.status.message) == (
        "Starting",
        "waiting for KubeRay to report the RayCluster",
    )
    assert waiting.metadata.finalizers == [], "owner references, not finalizers"

    world.comes_up()
    assert world.reconcile() is None, "no polling: a change of the RayCluster wakes the controller"
    ready = world.cluster()
    assert (ready.status.phase, ready.status.message) == ("Ready", "all Ray pods are ready")
    assert ready.status.dashboard_url == "http://gpus-head-svc.ns.svc:8265"
    assert ready.status.address == "gpus-head-svc.ns.svc:6379"
    kinds = {c.type: c.status for c in ready.status.conditions}
    assert (
        kinds["HeadPodReady"] == "True"
        and kinds["RayClusterProvisioned"] == "True"
        and kinds["Ready"] == "True"
    )

    writes = world.kuberay.writes
    world.reconcile()
    assert world.kuberay.writes == writes and world.cluster() == ready, "nothing changed: nothing written"

    world.grow()
    world.reconcile()
    raycluster = world.raycluster()
    assert raycluster is not None and raycluster["spec"]["workerGroupSpecs"][0]["replicas"] == 3


def test_on_kubernetes_a_raycluster_park_did_not_make_is_left_untouched(tmp_path: Path) -> None:
    world = World(tmp_path, "kuberay")
    world.kuberay.create(
        {"kind": "RayCluster", "metadata": {"name": "gpus", "namespace": "ns"}, "spec": {"x": 1}}
    )
    world.admit()
    for _ in range(2):
        world.reconcile()
    failed = world.cluster()
    assert failed.status.phase == "Failed"
    assert str(failed.status.message).startswith(
        "a RayCluster named gpus that Park did not make is in the way"
    )
    assert world.reasons() == ["StartFailed"]
    assert world.kuberay.get("RayCluster", "ns", "gpus")["spec"] == {"x": 1}
