"""The scheduler loop's writes when other writers touch the same jobs between its list and its write.

On Kubernetes the operator writes a job's status (phase, conditions) all the time;
a decision made on the cycle's snapshot must still land when only such fields moved, and must not when
the job itself changed (its spec, its admission or its phase): then the next cycle decides again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from park.control.controllers.scheduling import SchedulerLoop, needs_write, next_wait
from park.control.scheduler import PolicyConfig, QueueName, Resources, Snapshot, Workload, WorkloadId
from park.control.scheduler.reasons import in_line, without_place
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.meta import ObjectMeta
from park.core.resources import (
    Admission,
    AnyResource,
    ComputeResources,
    ParkJob,
    ParkJobSpec,
    ParkQueue,
    ParkQueueSpec,
)


class RacingStore(SQLiteStore):
    """Runs `meanwhile` once, just before the first status write of a job: another writer got there first."""

    meanwhile: Callable[[SQLiteStore], None] | None = None

    def update_status(self, obj: AnyResource) -> AnyResource:
        race, self.meanwhile = self.meanwhile, None
        if race is not None and obj.kind == "ParkJob":
            race(self)
        return super().update_status(obj)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[RacingStore]:
    store = RacingStore(tmp_path / "park.db", clock=clock)
    store.create(
        ParkQueue(
            metadata=ObjectMeta(name="default"), spec=ParkQueueSpec(nominal_quota=ComputeResources(cpu="4"))
        )
    )
    store.create(
        ParkJob(
            metadata=ObjectMeta(name="train", namespace="default"), spec=ParkJobSpec(entrypoint="python t.py")
        )
    )
    yield store
    store.close()


def cycle(store: SQLiteStore, clock: FakeClock) -> ParkJob:
    SchedulerLoop(
        store=store, clock=clock, config=PolicyConfig(min_runtime_s=0, aging_interval_s=0)
    ).cycle_once()
    return _job(store)


def _job(store: SQLiteStore) -> ParkJob:
    job = store.get("ParkJob", "default", "train")
    assert isinstance(job, ParkJob)
    return job


def test_an_admission_lands_when_only_another_writers_status_fields_moved(
    store: RacingStore, clock: FakeClock
) -> None:
    def operator_mirrors_a_condition(s: SQLiteStore) -> None:
        job = _job(s)
        s.update_status(
            job.model_copy(update={"status": job.status.model_copy(update={"message": "mirrored"})})
        )

    store.meanwhile = operator_mirrors_a_condition
    job = cycle(store, clock)
    assert job.status.admission is not None and job.status.admission.admitted, (
        "one cycle admits despite the 409"
    )
    assert job.status.message == "mirrored", "the other writer's field is kept"
    assert [e.reason for e in store.list_events(kind="ParkJob", name="train")] == ["Admitted"]


def test_a_decision_is_dropped_when_the_job_itself_changed(store: RacingStore, clock: FakeClock) -> None:
    def user_suspends(s: SQLiteStore) -> None:
        job = _job(s)
        s.update(job.model_copy(update={"spec": job.spec.model_copy(update={"suspend": True})}))

    store.meanwhile = user_suspends
    job = cycle(store, clock)
    assert job.status.admission is None, "a spec change (new generation) is for the next cycle to judge"
    assert store.list_events(kind="ParkJob", name="train") == []


@pytest.mark.parametrize(("phase", "lands"), [("Queued", True), ("Failed", False)])
def test_a_phase_change_matters_only_when_the_job_ended(
    store: RacingStore, clock: FakeClock, phase: str, lands: bool
) -> None:
    def controller_sets_the_phase(s: SQLiteStore) -> None:
        job = _job(s)
        s.update_status(job.model_copy(update={"status": job.status.model_copy(update={"phase": phase})}))

    store.meanwhile = controller_sets_the_phase
    job = cycle(store, clock)
    assert (job.status.admission is not None and job.status.admission.admitted) is lands
    assert job.status.phase == phase


def _waiting(position: int, why: str = "waiting: needs 1 cpu, default has 0 free") -> Admission:
    return Admission(admitted=False, queue="default", position=position, message=in_line(why, position))


@pytest.mark.parametrize(
    ("before", "after", "write"),
    [
        (None, _waiting(300), True),  # first word on a new job
        (_waiting(212), _waiting(212), False),  # nothing changed
        (_waiting(4), _waiting(3), True),  # the head of the line stays exact
        (_waiting(11), _waiting(10), True),  # into the exact places
        (_waiting(212), _waiting(200), False),  # far back, moved less than a tenth
        (_waiting(212), _waiting(190), True),  # moved a tenth or more
        (_waiting(212), _waiting(230), False),  # pushed back a little by jobs of the same second
        (_waiting(212), _waiting(212, "waiting: behind x in StrictFIFO order"), True),  # a new reason
        (_waiting(212), _waiting(211).model_copy(update={"nominated": True}), True),  # more than the place
        (_waiting(212), Admission(admitted=False, queue="default", message="waiting"), True),
    ],
)
def test_a_waiting_jobs_place_far_back_is_rewritten_only_when_it_moved_a_tenth(
    before: Admission | None, after: Admission, write: bool
) -> None:
    assert needs_write(before, after) is write


def test_without_place_keeps_the_reason() -> None:
    assert without_place(in_line("waiting: asks the same as a, b", 3)) == "waiting: asks the same as a, b"
    assert without_place("waiting for 2 preempted workloads") == "waiting for 2 preempted workloads"


def _workload(name: str, *, admitted_at: float | None = None, preemptible: bool = True) -> Workload:
    return Workload(
        id=WorkloadId(name),
        queue=QueueName("default"),
        per_pod=Resources.of(cpu=1),
        created_at=0.0,
        admitted_at=admitted_at,
        preemptible=preemptible,
    )


@pytest.mark.parametrize(
    ("workloads", "wait"),
    [
        ([], 10.0),  # nothing at all
        ([_workload("running", admitted_at=0.0)], 10.0),  # nobody waits: nothing can change by itself
        ([_workload("waiting")], 10.0),  # waiting, nothing protected: aging only
        ([_workload("waiting"), _workload("young", admitted_at=97.0)], 7.0),  # 100 - 97 = 3 of 10 s ran
        ([_workload("waiting"), _workload("young", admitted_at=90.5)], 1.0),  # at most once a second
        ([_workload("waiting"), _workload("old", admitted_at=50.0)], 10.0),  # already preemptible
        ([_workload("waiting"), _workload("svc", admitted_at=97.0, preemptible=False)], 10.0),
    ],
)
def test_between_changes_the_loop_wakes_when_time_alone_could_change_a_decision(
    workloads: list[Workload], wait: float
) -> None:
    snapshot = Snapshot(queues=(), workloads=tuple(workloads))
    config = PolicyConfig(min_runtime_s=10.0)
    assert next_wait(snapshot, config, 100.0, 1.0, 10.0) == pytest.approx(wait)
