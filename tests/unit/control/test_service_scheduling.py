"""The scheduler loop with services: a scale-up preempts training, a scale-down gives capacity back."""

from __future__ import annotations

import pytest

from park.control.controllers.scheduling import SchedulerLoop
from park.control.scheduler import PolicyConfig
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.errors import NotFoundError
from park.core.meta import ObjectMeta
from park.core.resources import (
    ComputeResources,
    GangResources,
    ParkJob,
    ParkJobSpec,
    ParkQueue,
    ParkQueueSpec,
    ParkService,
    ParkServiceSpec,
    QueuePreemption,
    ServiceDeployment,
)

APP = {"name": "llm", "import_path": "park.workloads.serve.app:build"}


def loop(store: SQLiteStore, clock: FakeClock) -> SchedulerLoop:
    return SchedulerLoop(store=store, clock=clock, config=PolicyConfig(min_runtime_s=0, aging_interval_s=0))


def setup(store: SQLiteStore) -> None:
    store.create(
        ParkQueue(
            metadata=ObjectMeta(name="default"),
            spec=ParkQueueSpec(
                nominal_quota=ComputeResources(cpu="2"),
                preemption=QueuePreemption(within_queue="LowerPriority"),
            ),
        )
    )
    store.create(
        ParkJob(
            metadata=ObjectMeta(name="train", namespace="default"),
            spec=ParkJobSpec(
                entrypoint="python train.py",
                resources=GangResources(replicas=1, per_replica=ComputeResources(cpu="1")),
            ),
        )
    )


def set_service(store: SQLiteStore, *, phase: str, target: int) -> ParkService:
    try:
        current = store.get("ParkService", "default", "chat")
    except NotFoundError:
        current = store.create(
            ParkService(
                metadata=ObjectMeta(name="chat", namespace="default"),
                spec=ParkServiceSpec(applications=[APP], priority=100),
            )
        )
    assert isinstance(current, ParkService)
    deployment = ServiceDeployment(
        application="llm", name="decode", target_replicas=target, replica_resources={"cpu": 0.5}
    )
    status = current.status.model_copy(update={"phase": phase, "deployments": [deployment]})
    updated = store.update_status(current.model_copy(update={"status": status}))
    assert isinstance(updated, ParkService)
    return updated


def job(store: SQLiteStore) -> ParkJob:
    found = store.get("ParkJob", "default", "train")
    assert isinstance(found, ParkJob)
    return found


def service(store: SQLiteStore) -> ParkService:
    found = store.get("ParkService", "default", "chat")
    assert isinstance(found, ParkService)
    return found


def mark_job(store: SQLiteStore, phase: str) -> None:
    current = job(store)
    status = current.status.model_copy(update={"phase": phase})
    store.update_status(current.model_copy(update={"status": status}))


def test_a_service_is_admitted_then_its_spike_preempts_training_and_the_lull_returns_it(
    store: SQLiteStore, clock: FakeClock
) -> None:
    setup(store)
    scheduler = loop(store, clock)
    scheduler.cycle_once()
    assert job(store).status.admission is not None and job(store).status.admission.admitted  # type: ignore[union-attr]
    mark_job(store, "Running")

    set_service(store, phase="Queued", target=1)
    scheduler.cycle_once()
    admission = service(store).status.admission
    assert admission is not None and admission.admitted_at is not None
    assert admission.replicas == {"llm/decode": 1}
    assert job(store).status.admission.admitted  # type: ignore[union-attr]  # 1 + 0.5 CPU fit in 2

    clock.advance(10)
    set_service(store, phase="Running", target=3)  # Serve's autoscaler wants 3 replicas: 1 + 1.5 > 2
    scheduler.cycle_once()
    evicted = job(store).status.admission
    assert evicted is not None and not evicted.admitted, "the spike preempts the lower-priority job"
    assert service(store).status.admission.nominated  # type: ignore[union-attr]
    mark_job(store, "Preempted")  # the job controller checkpoints it and it leaves Ray
    scheduler.cycle_once()
    assert service(store).status.admission.replicas == {"llm/decode": 3}  # type: ignore[union-attr]
    waiting = job(store).status.admission
    assert waiting is not None and not waiting.admitted and waiting.position == 1

    clock.advance(10)
    set_service(store, phase="Running", target=1)  # traffic fell: Serve scaled down
    scheduler.cycle_once()
    assert service(store).status.admission.replicas == {"llm/decode": 1}  # type: ignore[union-attr]
    assert job(store).status.admission.admitted  # type: ignore[union-attr]  # re-admitted: it resumes
    reasons = [e.reason for e in store.list_events(kind="ParkService", name="chat")]
    assert reasons == ["Admitted", "Scaled", "Scaled", "Released"]  # 2 fit at once, the 3rd preempted


def test_a_quota_of_zero_admits_nothing_of_that_resource(store: SQLiteStore, clock: FakeClock) -> None:
    store.create(
        ParkQueue(
            metadata=ObjectMeta(name="default"), spec=ParkQueueSpec(nominal_quota=ComputeResources(cpu="0"))
        )
    )
    store.create(
        ParkJob(
            metadata=ObjectMeta(name="train", namespace="default"), spec=ParkJobSpec(entrypoint="python t.py")
        )
    )
    loop(store, clock).cycle_once()
    admission = job(store).status.admission
    assert admission is not None and not admission.admitted, "cpu: 0 is a limit, not an unbounded resource"


@pytest.mark.parametrize(("gpu", "admitted"), [(0, False), (None, True), (1, True)])
def test_a_gpu_quota_bounds_gpus_only_when_named(
    store: SQLiteStore, clock: FakeClock, gpu: int | None, admitted: bool
) -> None:
    """`gpu: 0` grants no gpus; a quota that leaves gpu out does not bound them."""
    quota = ComputeResources.model_validate({"cpu": "8", **({} if gpu is None else {"gpu": gpu})})
    store.create(ParkQueue(metadata=ObjectMeta(name="default"), spec=ParkQueueSpec(nominal_quota=quota)))
    needs_a_gpu = GangResources(per_replica=ComputeResources(cpu="1", gpu=1))
    store.create(
        ParkJob(
            metadata=ObjectMeta(name="train", namespace="default"),
            spec=ParkJobSpec(entrypoint="python t.py", resources=needs_a_gpu),
        )
    )
    loop(store, clock).cycle_once()
    admission = job(store).status.admission
    assert admission is not None and admission.admitted is admitted
    stored = store.get("ParkQueue", None, "default")
    assert stored.spec.nominal_quota.gpu == gpu  # type: ignore[union-attr]  # a zero survives the store
