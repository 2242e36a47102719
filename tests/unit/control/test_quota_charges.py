"""The scheduler loop charges each queue what runs for it: clusters, job heads, a service's Ray cluster.

Numbers are explicit so a reader can add them up: `park get queues` (queue status) shows the same sums.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from park.control.controllers.scheduling import SchedulerLoop
from park.control.costs import Layout
from park.control.scheduler import PolicyConfig
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.meta import ObjectMeta
from park.core.resources import (
    AnyResource,
    ComputeResources,
    GangResources,
    HeadSpec,
    ParkCluster,
    ParkClusterSpec,
    ParkJob,
    ParkJobSpec,
    ParkQueue,
    ParkQueueSpec,
    ParkService,
    ParkServiceSpec,
    ServiceDeployment,
    WorkerGroupSpec,
)

NS = "ml"


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "park.db", clock=clock)
    yield store
    store.close()


def cycle(store: SQLiteStore, clock: FakeClock, layout: Layout) -> None:
    config = PolicyConfig(min_runtime_s=0, aging_interval_s=0)
    SchedulerLoop(store=store, clock=clock, config=config, layout=layout).cycle_once()


def queue(store: SQLiteStore, name: str = "team", **quota: int | str) -> None:
    store.create(
        ParkQueue(metadata=ObjectMeta(name=name), spec=ParkQueueSpec(nominal_quota=ComputeResources(**quota)))
    )


def gpu_cluster(name: str = "gpus", *, queue: str | None = None, workers: int = 2) -> ParkCluster:
    return ParkCluster(
        metadata=ObjectMeta(name=name, namespace=NS),
        spec=ParkClusterSpec(
            queue=queue,
            head=HeadSpec(resources=ComputeResources(cpu="2")),
            worker_groups=[
                WorkerGroupSpec(name="gpu", replicas=workers, resources=ComputeResources(cpu="4", gpu=1))
            ],
        ),
    )


def get(store: SQLiteStore, kind: str, name: str, namespace: str | None = NS) -> AnyResource:
    return store.get(kind, namespace, name)


def used(store: SQLiteStore, name: str = "team") -> dict[str, float]:
    found = get(store, "ParkQueue", name, None)
    assert isinstance(found, ParkQueue)
    return found.status.usage.used


def admitted(store: SQLiteStore, kind: str, name: str) -> bool:
    obj = get(store, kind, name)
    assert isinstance(obj, ParkJob | ParkCluster)
    return obj.status.admission is not None and obj.status.admission.admitted


def queued_service(store: SQLiteStore, *, gpus_per_replica: float) -> ParkService:
    """A service whose controller wrote its estimate: one replica asking for `gpus_per_replica`."""
    app = {"name": "llm", "import_path": "m:app"}
    created = store.create(
        ParkService(
            metadata=ObjectMeta(name="chat", namespace=NS),
            spec=ParkServiceSpec(applications=[app], cluster="gpus", queue="team"),
        )
    )
    assert isinstance(created, ParkService)
    deployment = ServiceDeployment(
        application="llm", name="decode", target_replicas=1, replica_resources={"gpu": gpus_per_replica}
    )
    status = created.status.model_copy(update={"phase": "Queued", "deployments": [deployment]})
    updated = store.update_status(created.model_copy(update={"status": status}))
    assert isinstance(updated, ParkService)
    return updated


def test_on_kubernetes_a_service_on_a_two_gpu_worker_cluster_is_charged_two_gpus_and_its_head(
    store: SQLiteStore, clock: FakeClock
) -> None:
    queue(store, cpu=16, gpu=2)
    store.create(gpu_cluster())  # platform capacity, charged to no one: it only shapes the service's cluster
    queued_service(store, gpus_per_replica=1)

    cycle(store, clock, Layout.OWN_CLUSTER)

    service = get(store, "ParkService", "chat")
    assert isinstance(service, ParkService) and service.status.admission is not None
    assert service.status.admission.admitted_at is not None
    assert service.status.admission.replicas == {"llm/decode": 1}
    assert used(store) == {"cpu": 2 + 2 * 4, "gpu": 2}


def test_on_kubernetes_a_service_whose_cluster_does_not_fit_waits_however_small_its_replicas(
    store: SQLiteStore, clock: FakeClock
) -> None:
    queue(store, cpu=16, gpu=1)
    store.create(gpu_cluster())
    queued_service(store, gpus_per_replica=0.5)

    cycle(store, clock, Layout.OWN_CLUSTER)

    service = get(store, "ParkService", "chat")
    assert isinstance(service, ParkService) and service.status.admission is not None
    assert service.status.admission.admitted_at is None
    assert "cannot ever fit: needs 2 gpu, team can hold at most 1 gpu" in service.status.admission.message


def test_on_kubernetes_a_job_is_charged_its_head_and_workers_and_the_queue_shows_it(
    store: SQLiteStore, clock: FakeClock
) -> None:
    """Two jobs of head 2 CPU + one 4-CPU worker + the 0.1-CPU submitter: the second does not fit 12 CPUs."""
    queue(store, cpu=12)
    store.create(gpu_cluster(workers=0))
    gang = GangResources(replicas=1, per_replica=ComputeResources(cpu="4"))
    for name in ("first", "second"):
        spec = ParkJobSpec(entrypoint="python t.py", cluster="gpus", queue="team", resources=gang)
        store.create(ParkJob(metadata=ObjectMeta(name=name, namespace=NS), spec=spec))
        clock.advance(1)

    cycle(store, clock, Layout.OWN_CLUSTER)

    assert admitted(store, "ParkJob", "first") and not admitted(store, "ParkJob", "second")
    assert used(store) == {"cpu": 6.1, "memory": 256 * 2**20}
    second = get(store, "ParkJob", "second")
    assert isinstance(second, ParkJob) and second.status.admission is not None
    assert second.status.admission.message.startswith("waiting: needs 6.1 cpu, team has 5.9 free")


def test_on_park_up_the_same_job_is_charged_what_it_reserves_on_the_shared_head(
    store: SQLiteStore, clock: FakeClock
) -> None:
    queue(store, cpu=8)
    store.create(gpu_cluster(workers=0))
    gang = GangResources(replicas=1, per_replica=ComputeResources(cpu="4"))
    for name in ("first", "second"):
        spec = ParkJobSpec(entrypoint="python t.py", cluster="gpus", queue="team", resources=gang)
        store.create(ParkJob(metadata=ObjectMeta(name=name, namespace=NS), spec=spec))

    cycle(store, clock, Layout.SHARED_HEAD)

    assert admitted(store, "ParkJob", "first") and admitted(store, "ParkJob", "second")
    assert used(store) == {"cpu": 8}


@pytest.mark.parametrize("layout", list(Layout))
def test_a_cluster_that_names_a_queue_is_charged_and_waits_queued_when_over_quota(
    store: SQLiteStore, clock: FakeClock, layout: Layout
) -> None:
    queue(store, cpu=16, gpu=3)
    store.create(gpu_cluster("small", queue="team", workers=2))
    clock.advance(1)
    store.create(gpu_cluster("big", queue="team", workers=2))

    cycle(store, clock, layout)

    assert admitted(store, "ParkCluster", "small") and not admitted(store, "ParkCluster", "big")
    assert used(store) == {"cpu": 10, "gpu": 2}
    big = get(store, "ParkCluster", "big")
    assert isinstance(big, ParkCluster) and big.status.admission is not None
    assert (
        big.status.admission.message
        == "waiting: needs 2 gpu, 10 cpu; team has 1 gpu, 6 cpu free, 1st in line"
    )
    huge = gpu_cluster("huge", queue="team", workers=4)
    store.create(huge)
    cycle(store, clock, layout)
    refused = get(store, "ParkCluster", "huge")
    assert isinstance(refused, ParkCluster) and refused.status.admission is not None
    assert refused.status.admission.message.startswith(
        "cannot ever fit: needs 4 gpu, 18 cpu, team can hold at most 3 gpu, 16 cpu"
    )


def test_a_cluster_without_a_queue_is_charged_to_no_one(store: SQLiteStore, clock: FakeClock) -> None:
    queue(store, cpu=1)
    store.create(gpu_cluster())

    cycle(store, clock, Layout.OWN_CLUSTER)

    cluster = get(store, "ParkCluster", "gpus")
    assert isinstance(cluster, ParkCluster) and cluster.status.admission is None
    assert used(store) == {}
