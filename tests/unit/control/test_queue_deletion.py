"""A queue with admitted work is not removed until that work is gone (Kueue's resource-in-use finalizer).

The scheduler loop runs over the SQLite store here; the Kubernetes store gives the API server's own
finalizer rules, which the SQLite store mirrors, so the same loop protects queues in the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from park.control.controllers.queues import QUEUE_IN_USE
from park.control.controllers.scheduling import SchedulerLoop
from park.control.scheduler import PolicyConfig
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.errors import NotFoundError
from park.core.meta import ObjectMeta
from park.core.resources import (
    AnyResource,
    ComputeResources,
    ParkJob,
    ParkJobSpec,
    ParkQueue,
    ParkQueueSpec,
)


class RacingStore(SQLiteStore):
    """Runs `meanwhile` once, just before the first metadata write of a queue: a user got there first."""

    meanwhile: Callable[[SQLiteStore], None] | None = None

    def update(self, obj: AnyResource) -> AnyResource:
        race, self.meanwhile = self.meanwhile, None
        if race is not None and obj.kind == "ParkQueue":
            race(self)
        return super().update(obj)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[RacingStore]:
    store = RacingStore(tmp_path / "park.db", clock=clock)
    store.create(
        ParkQueue(
            metadata=ObjectMeta(name="team"), spec=ParkQueueSpec(nominal_quota=ComputeResources(cpu="2"))
        )
    )
    yield store
    store.close()


def cycle(store: SQLiteStore, clock: FakeClock) -> None:
    SchedulerLoop(
        store=store, clock=clock, config=PolicyConfig(min_runtime_s=0, aging_interval_s=0)
    ).cycle_once()


def add_job(store: SQLiteStore, name: str) -> None:
    store.create(
        ParkJob(
            metadata=ObjectMeta(name=name, namespace="default"),
            spec=ParkJobSpec(entrypoint="x", queue="team"),
        )
    )


def job(store: SQLiteStore, name: str) -> ParkJob:
    found = store.get("ParkJob", "default", name)
    assert isinstance(found, ParkJob)
    return found


def queue(store: SQLiteStore) -> ParkQueue:
    found = store.get("ParkQueue", None, "team")
    assert isinstance(found, ParkQueue)
    return found


def finish(store: SQLiteStore, name: str) -> None:
    done = job(store, name)
    store.update_status(
        done.model_copy(update={"status": done.status.model_copy(update={"phase": "Succeeded"})})
    )


def test_a_queue_with_admitted_work_is_terminating_until_that_work_is_gone(
    store: SQLiteStore, clock: FakeClock
) -> None:
    add_job(store, "running")
    cycle(store, clock)
    assert job(store, "running").status.admission.admitted  # type: ignore[union-attr]
    assert QUEUE_IN_USE in queue(store).metadata.finalizers

    store.delete("ParkQueue", None, "team")
    add_job(store, "late")
    cycle(store, clock)

    terminating = queue(store)  # still there: what it admitted runs on, counted
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.status.phase == "Terminating"
    assert (
        terminating.status.message
        == "being deleted: admits nothing new, and goes once its 1 admitted workload has finished"
    )
    assert terminating.status.usage.used == {"cpu": 1.0}
    late = job(store, "late").status.admission
    assert late is not None and not late.admitted
    assert late.message == "waiting: queue team is being deleted and admits nothing new, 1st in line"

    finish(store, "running")
    cycle(store, clock)

    with pytest.raises(NotFoundError):
        queue(store)
    cycle(store, clock)
    late = job(store, "late").status.admission
    assert late is not None and late.message == "waiting: queue team does not exist"


def test_an_idle_queue_carries_no_finalizer_and_is_deleted_at_once(
    store: SQLiteStore, clock: FakeClock
) -> None:
    add_job(store, "short")
    cycle(store, clock)
    finish(store, "short")
    cycle(store, clock)

    idle = queue(store)
    assert idle.metadata.finalizers == [] and idle.status.phase == "Active"
    store.delete("ParkQueue", None, "team")
    with pytest.raises(NotFoundError):
        queue(store)


def test_nothing_is_admitted_into_a_queue_deleted_before_the_scheduler_could_protect_it(
    store: RacingStore, clock: FakeClock
) -> None:
    """The finalizer goes on before the admission is written: a queue deleted in between admits nothing."""
    add_job(store, "first")
    store.meanwhile = lambda s: s.delete("ParkQueue", None, "team")

    cycle(store, clock)

    with pytest.raises(NotFoundError):
        queue(store)
    first = job(store, "first").status.admission
    assert first is None or not first.admitted
