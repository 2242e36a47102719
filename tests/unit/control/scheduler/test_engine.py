"""The long-lived engine: deltas, its own assumptions between cycles, sync, and a preemption round trip."""

from __future__ import annotations

from dataclasses import replace

from park.control.scheduler import (
    Admit,
    Preempt,
    PreemptionPolicy,
    PriorityClass,
    ReclaimWithinCohort,
    Resources,
    Scheduler,
    Snapshot,
    Wait,
    WorkloadId,
    resolve_priority,
    schedule,
    usage_report,
)
from tests.unit.control.scheduler.helpers import PLAIN, job, queue
from tests.unit.control.scheduler.test_preemption import LOWER


def test_a_preemption_round_trip_admits_the_preemptor_once_the_victim_is_gone() -> None:
    engine = Scheduler(PLAIN, (queue("a", 2, preemption=LOWER),))
    engine.upsert(job("train", "a", 2, admitted=0))
    engine.upsert(job("serve", "a", 2, priority=10, created=5))

    first = engine.cycle(10)
    assert [type(d) for d in first] == [Preempt, Wait]
    assert engine.state.workloads[WorkloadId("train")].evicting

    assert [type(d) for d in engine.cycle(11)] == [Wait]  # still leaving: no second preemption

    engine.remove(WorkloadId("train"))  # suspended; the controller requeues it as pending
    engine.upsert(job("train", "a", 2, created=0))
    third = engine.cycle(12)
    assert [(type(d), getattr(d, "workload", None)) for d in third] == [(Admit, "serve"), (Wait, "train")]


def test_the_engine_assumes_its_admissions_until_told_otherwise() -> None:
    engine = Scheduler(PLAIN, (queue("a", 1),))
    engine.upsert(job("one", "a", created=1))
    engine.upsert(job("two", "a", created=2))
    assert [type(d) for d in engine.cycle(10)] == [Admit, Wait]
    assert [type(d) for d in engine.cycle(11)] == [Wait]
    engine.remove(WorkloadId("one"))  # finished
    assert [type(d) for d in engine.cycle(12)] == [Admit]


def test_sync_applies_only_the_differences() -> None:
    q = queue("a", 2)
    engine = Scheduler(PLAIN, (q,))
    engine.sync(Snapshot((q,), (job("x", "a", created=1), job("y", "a", created=2))))
    engine.cycle(10)
    # The store now says x finished, y runs, and z arrived; the engine drops its own assumptions.
    y = replace(job("y", "a", created=2), admitted_at=10.0)
    engine.sync(Snapshot((q,), (y, job("z", "a", 2, created=3))))
    assert set(engine.state.workloads) == {"y", "z"}
    assert [type(d) for d in engine.cycle(11)] == [Wait]


def test_a_quota_change_takes_effect_next_cycle() -> None:
    engine = Scheduler(PLAIN, (queue("a", 1),))
    engine.upsert(job("big", "a", 2))
    assert [type(d) for d in engine.cycle(1)] == [Wait]
    engine.set_queues((queue("a", 2),))
    assert [type(d) for d in engine.cycle(2)] == [Admit]


def test_schedule_explains_every_pending_workload_exactly_once() -> None:
    workloads = tuple(job(f"j{i}", "a", 1 + i % 3, created=i, priority=i % 2) for i in range(12))
    decisions = schedule(Snapshot((queue("a", 4),), workloads), 100, PLAIN)
    named = [getattr(d, "workload", None) for d in decisions]
    assert sorted(named) == sorted(w.id for w in workloads)
    positions = sorted(d.position for d in decisions if isinstance(d, Wait))
    assert positions == list(range(1, len(positions) + 1))


def test_a_preemptor_gets_the_room_its_victims_free_even_behind_a_head_that_cannot_fit() -> None:
    reclaim = PreemptionPolicy(reclaim_within_cohort=ReclaimWithinCohort.ANY)
    queues = (queue("lender", 1, cohort="c"), queue("owner", 1, cohort="c", strict=True, preemption=reclaim))
    engine = Scheduler(PLAIN, queues)
    engine.upsert(job("borrower", "lender", 1, pods=2, admitted=0))
    engine.upsert(job("too-big", "owner", 2, pods=2))  # can never fit: skipped, yet first in line
    engine.upsert(job("mine", "owner", 1, created=1))

    assert [type(d) for d in engine.cycle(10) if not isinstance(d, Wait)] == [Preempt]
    assert engine.state.workloads[WorkloadId("mine")].nominated
    engine.remove(WorkloadId("borrower"))  # suspended; it queues again, older than "mine"
    engine.upsert(job("borrower", "lender", 1, pods=2))
    assert [d.workload for d in engine.cycle(11) if isinstance(d, Admit)] == ["mine"]
    assert not engine.state.workloads[WorkloadId("mine")].nominated


def test_the_pure_usage_report_reflects_one_cycle() -> None:
    snapshot = Snapshot((queue("a", 2),), (job("x", "a", 2, created=1), job("y", "a", 1, created=2)))
    report = usage_report(snapshot, 10, PLAIN)
    assert (str(report.queue("a").used), report.queue("a").pending) == ("2 gpu", 1)
    assert [(e.workload, e.reason) for e in report.pending["a"]] == [
        ("y", "waiting: needs 1 gpu, a has 0 free, 1st in line")
    ]


def test_priority_classes_resolve_to_the_base_priority_workloads_carry() -> None:
    classes = [PriorityClass("serving", 1000), PriorityClass("batch", 10)]
    assert [resolve_priority(classes, n) for n in ("serving", "batch", "unknown", None)] == [1000, 10, 0, 0]


def test_a_terminating_queue_admits_nothing_new_and_its_admitted_work_keeps_its_quota() -> None:
    """Kueue's ClusterQueue being deleted: what it admitted runs on (and is counted); nothing new starts."""
    closing = replace(queue("a", 4), terminating=True)
    decisions = schedule(
        Snapshot((closing,), (job("running", "a", 1, admitted=0), job("new", "a", 1, created=5))), 10, PLAIN
    )

    assert [type(d) for d in decisions] == [Wait]
    (wait,) = decisions
    assert isinstance(wait, Wait) and wait.workload == "new"
    assert wait.reason == "waiting: queue a is being deleted and admits nothing new, 1st in line"
    report = usage_report(Snapshot((closing,), (job("running", "a", 1, admitted=0),)), 10, PLAIN)
    assert report.queue("a").used == Resources.of(gpu=1) and report.queue("a").admitted == 1
