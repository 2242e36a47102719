"""A job or service naming a ParkPriorityClass that does not exist waits, told why; the rest schedules.

Kubernetes refuses such a Pod at admission; a CRD schema cannot look up another object, so Park keeps
the object Queued with the condition Admissible=False and a Warning event naming the missing class.
"""

from __future__ import annotations

import pytest

from park.control.controllers.scheduling import SchedulerLoop
from park.control.reconcile.actions import WriteStatus
from park.control.reconcile.job import JobObservation, plan_job
from park.control.scheduler import PolicyConfig
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.meta import Condition, ObjectMeta
from park.core.resources import (
    AnyResource,
    ComputeResources,
    GangResources,
    ParkJob,
    ParkJobSpec,
    ParkPriorityClass,
    ParkPriorityClassSpec,
    ParkQueue,
    ParkQueueSpec,
    ParkService,
    ParkServiceSpec,
    ServiceDeployment,
)

APP = {"name": "llm", "import_path": "park.workloads.serve.app:build"}


@pytest.fixture
def store(store: SQLiteStore) -> SQLiteStore:
    """The shared store (conftest.py) with a default queue of 8 CPUs."""
    store.create(
        ParkQueue(
            metadata=ObjectMeta(name="default"), spec=ParkQueueSpec(nominal_quota=ComputeResources(cpu="8"))
        )
    )
    return store


def cycle(store: SQLiteStore, clock: FakeClock) -> None:
    SchedulerLoop(
        store=store, clock=clock, config=PolicyConfig(min_runtime_s=0, aging_interval_s=0)
    ).cycle_once()


def create_job(store: SQLiteStore, name: str, priority_class: str | None = None) -> None:
    spec = ParkJobSpec(
        entrypoint="python train.py",
        priority_class_name=priority_class,
        resources=GangResources(replicas=1, per_replica=ComputeResources(cpu="1")),
    )
    store.create(ParkJob(metadata=ObjectMeta(name=name, namespace="default"), spec=spec))


def get_job(store: SQLiteStore, name: str) -> ParkJob:
    found = store.get("ParkJob", "default", name)
    assert isinstance(found, ParkJob)
    return found


def admissible(obj: AnyResource) -> Condition | None:
    return next((c for c in obj.status.conditions if c.type == "Admissible"), None)


def warnings(store: SQLiteStore, name: str) -> list[tuple[str, str, int]]:
    return [(e.reason, e.message, e.count) for e in store.list_events(name=name) if e.type == "Warning"]


def test_the_job_waits_queued_with_a_condition_and_one_warning_while_the_others_are_admitted(
    store: SQLiteStore, clock: FakeClock
) -> None:
    create_job(store, "urgent", priority_class="critical")
    create_job(store, "train")
    cycle(store, clock)
    cycle(store, clock)  # a second cycle neither writes nor warns again

    assert get_job(store, "train").status.admission.admitted  # type: ignore[union-attr]
    urgent = get_job(store, "urgent")
    assert urgent.status.admission is not None and not urgent.status.admission.admitted
    assert "ParkPriorityClass 'critical' does not exist" in urgent.status.admission.message
    condition = admissible(urgent)
    assert condition is not None
    assert (condition.status, condition.reason) == ("False", "UnknownPriorityClass")
    [(reason, message, count)] = warnings(store, "urgent")
    assert (reason, count) == ("UnknownPriorityClass", 1) and "'critical'" in message
    version = urgent.metadata.resource_version
    cycle(store, clock)
    assert get_job(store, "urgent").metadata.resource_version == version

    plan = plan_job(urgent, JobObservation(cluster=None, ray_job=None), clock.now(), jobs_root="file:///jobs")
    (status,) = [a.status for a in plan.actions if isinstance(a, WriteStatus)]
    assert status.phase == "Queued" and "'critical' does not exist" in (status.message or "")


def test_once_the_class_exists_the_condition_turns_true_and_the_job_is_admitted(
    store: SQLiteStore, clock: FakeClock
) -> None:
    create_job(store, "urgent", priority_class="critical")
    cycle(store, clock)
    store.create(
        ParkPriorityClass(metadata=ObjectMeta(name="critical"), spec=ParkPriorityClassSpec(value=1000))
    )
    cycle(store, clock)
    urgent = get_job(store, "urgent")
    condition = admissible(urgent)
    assert condition is not None and (condition.status, condition.reason) == ("True", "PriorityClassFound")
    cycle(store, clock)
    assert get_job(store, "urgent").status.admission.admitted  # type: ignore[union-attr]


def test_an_admitted_job_keeps_its_admission_when_its_class_goes(
    store: SQLiteStore, clock: FakeClock
) -> None:
    store.create(
        ParkPriorityClass(metadata=ObjectMeta(name="critical"), spec=ParkPriorityClassSpec(value=1000))
    )
    create_job(store, "urgent", priority_class="critical")
    cycle(store, clock)
    store.delete("ParkPriorityClass", None, "critical")
    cycle(store, clock)
    urgent = get_job(store, "urgent")
    assert urgent.status.admission is not None and urgent.status.admission.admitted
    assert admissible(urgent) is None and warnings(store, "urgent") == []


def test_a_queued_service_waits_the_same_way(store: SQLiteStore, clock: FakeClock) -> None:
    created = store.create(
        ParkService(
            metadata=ObjectMeta(name="chat", namespace="default"),
            spec=ParkServiceSpec(applications=[APP], priority_class_name="serving"),
        )
    )
    deployment = ServiceDeployment(
        application="llm", name="decode", target_replicas=1, replica_resources={"cpu": 0.5}
    )
    status = created.status.model_copy(update={"phase": "Queued", "deployments": [deployment]})
    store.update_status(created.model_copy(update={"status": status}))
    create_job(store, "train")
    cycle(store, clock)

    assert get_job(store, "train").status.admission.admitted  # type: ignore[union-attr]
    chat = store.get("ParkService", "default", "chat")
    assert isinstance(chat, ParkService) and chat.status.admission is not None
    assert chat.status.admission.admitted_at is None and chat.status.admission.replicas == {}
    assert "'serving' does not exist" in chat.status.admission.message
    condition = admissible(chat)
    assert condition is not None and condition.reason == "UnknownPriorityClass"
    assert [reason for reason, _, _ in warnings(store, "chat")] == ["UnknownPriorityClass"]
