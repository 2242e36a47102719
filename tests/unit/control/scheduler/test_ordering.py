"""Queue order: priority, FIFO, StrictFIFO vs BestEffortFIFO, aging, positions and reasons."""

from __future__ import annotations

import pytest

from park.control.scheduler import PolicyConfig, Scheduler, Snapshot
from tests.unit.control.scheduler.helpers import PLAIN, admitted, job, queue, run, service, waits


def test_higher_priority_goes_first_then_earlier_arrival() -> None:
    workloads = [
        job("late-high", "a", created=5, priority=10),
        job("early-low", "a", created=1),
        job("late-low", "a", created=2),
    ]
    assert admitted(run([queue("a", 2)], workloads)) == ["late-high", "early-low"]


@pytest.mark.parametrize(
    ("strict", "expected"),
    [(True, []), (False, ["small"])],
    ids=["StrictFIFO blocks behind the head", "BestEffortFIFO lets a smaller one pass"],
)
def test_strict_vs_best_effort_fifo(strict: bool, expected: list[str]) -> None:
    workloads = [
        job("running", "a", 2, admitted=0),
        job("big", "a", 4, created=1),
        job("small", "a", 1, created=2),
    ]
    assert admitted(run([queue("a", 4, strict=strict)], workloads)) == expected


def test_strict_fifo_reason_names_the_blocking_head() -> None:
    workloads = [
        job("running", "a", 2, admitted=0),
        job("big", "a", 4, created=1),
        job("small", "a", 1, created=2),
    ]
    found = waits(run([queue("a", 4, strict=True)], workloads))
    assert found["big"].reason == "waiting: needs 4 gpu, a has 2 free, 1st in line"
    assert found["small"].reason == "waiting: behind big in StrictFIFO order, 2nd in line"
    assert found["small"].position == 2


def test_reason_matches_the_promised_shape() -> None:
    workloads = [
        job("busy", "team-a", 2, admitted=0),
        job("first", "team-a", 1, created=1, priority=5),
        job("second", "team-a", 1, created=2, priority=5),
        job("third", "team-a", 2, created=3),
    ]
    reason = waits(run([queue("team-a", 2)], workloads))["third"].reason
    assert reason == "waiting: needs 2 gpu, team-a has 0 free, 3rd in line"


def test_members_of_a_group_that_does_not_fit_say_who_holds_them_back() -> None:
    workloads = [
        job("running", "a", 2, admitted=0),
        job("first", "a", 3, created=1),
        job("second", "a", 3, created=2),
    ]
    found = waits(run([queue("a", 4)], workloads))
    assert found["second"].reason == "waiting: asks the same as first, which does not fit yet, 2nd in line"


def test_members_of_a_group_that_can_never_fit_say_so() -> None:
    found = waits(run([queue("a", 2)], [job("first", "a", 3, created=1), job("second", "a", 3, created=2)]))
    assert found["second"].reason == "cannot ever fit: asks the same as first, 2nd in line"


def test_aging_lets_a_long_waiting_low_priority_workload_pass_newer_high_ones() -> None:
    aging = PolicyConfig(aging_interval_s=60, aging_cap=10, starvation_after_s=None, min_runtime_s=0)
    for now, winner in ((600, "old-low"), (200, "new-high")):
        workloads = [job("old-low", "a", created=0), job("new-high", "a", created=now - 10, priority=5)]
        assert admitted(run([queue("a", 1)], workloads, now=now, config=aging)) == [winner]


def test_aging_is_capped() -> None:
    capped = PolicyConfig(aging_interval_s=1, aging_cap=3, starvation_after_s=None, min_runtime_s=0)
    workloads = [job("ancient", "a", created=0, priority=0), job("fresh", "a", created=9999, priority=5)]
    assert admitted(run([queue("a", 1)], workloads, now=10_000, config=capped)) == ["fresh"]


def test_a_starving_head_holds_capacity_so_small_jobs_stop_overtaking_it() -> None:
    starve = PolicyConfig(aging_interval_s=None, starvation_after_s=600, min_runtime_s=0)
    workloads = [
        job("running", "a", 2, admitted=0),
        job("big", "a", 4, created=0),
        job("small", "a", 1, created=500),
    ]
    assert admitted(run([queue("a", 4)], workloads, now=300, config=starve)) == ["small"]
    decisions = run([queue("a", 4)], workloads, now=700, config=starve)
    assert admitted(decisions) == []
    assert "capacity is held for it" in waits(decisions)["big"].reason


def test_a_starving_workload_also_stops_other_queues_borrowing_its_room() -> None:
    starve = PolicyConfig(aging_interval_s=None, starvation_after_s=600, min_runtime_s=0)
    queues = [queue("a", 4, cohort="c"), queue("b", 0, cohort="c")]
    # big would borrow 1 (share 1/4), borrower 2 (share 2/4): fair sharing looks at big first.
    workloads = [job("running", "a", 2, admitted=0), job("big", "a", 3), job("borrower", "b", 2, created=650)]
    assert admitted(run(queues, workloads, now=700, config=starve)) == []
    assert admitted(run(queues, workloads, now=500, config=starve)) == ["borrower"]


def test_a_workload_that_can_never_fit_does_not_block_a_strict_queue() -> None:
    decisions = run(
        [queue("a", 2, strict=True)], [job("huge", "a", 9, created=1), job("ok", "a", 1, created=2)]
    )
    assert admitted(decisions) == ["ok"]
    assert waits(decisions)["huge"].reason.startswith(
        "cannot ever fit: needs 9 gpu, a can hold at most 2 gpu even with its cohort idle"
    )


def test_a_workload_for_an_unknown_queue_waits_for_it() -> None:
    decisions = run([queue("a", 2)], [job("lost", "nope")])
    assert waits(decisions)["lost"].reason == "waiting: queue nope does not exist"


def test_report_lists_pending_in_order_with_positions_and_usage() -> None:
    engine = Scheduler.from_snapshot(
        Snapshot(
            (queue("a", 2, cohort="c"), queue("b", 2, cohort="c")),
            (
                job("run", "a", 3, admitted=0),
                job("p1", "a", 2, created=1, priority=1),
                job("p2", "a", 1, created=2),
                job("p3", "a", 2, created=3),
            ),
        ),
        PLAIN,
    )
    engine.cycle(10)
    report = engine.report(10)
    usage = report.queue("a")
    assert (str(usage.used), str(usage.borrowed), usage.pending, usage.admitted) == ("4 gpu", "2 gpu", 2, 2)
    assert usage.share == pytest.approx(0.5)
    entries = report.pending["a"]
    assert [(e.workload, e.position) for e in entries] == [("p1", 1), ("p3", 2)]
    assert entries[1].reason == "waiting: needs 2 gpu, a has 0 free, 2nd in line"


def test_only_the_first_starving_workload_of_a_cohort_holds_capacity() -> None:
    starve = PolicyConfig(aging_interval_s=None, starvation_after_s=600, min_runtime_s=0)
    workloads = [
        job("running", "a", 2, admitted=0),
        job("big", "a", 4, created=0),
        job("bigger", "a", 3, created=1),
        job("small", "a", 1, created=2),
    ]
    decisions = run([queue("a", 4)], workloads, now=700, config=starve)
    assert admitted(decisions) == []  # big holds all 4: nothing may backfill
    assert "capacity is held" not in waits(decisions)["bigger"].reason


def test_a_hold_does_not_block_workloads_that_outrank_the_starving_one() -> None:
    starve = PolicyConfig(aging_interval_s=None, starvation_after_s=600, min_runtime_s=0)
    queues = [queue("a", 4, cohort="c"), queue("serving", 0, cohort="c")]
    workloads = [
        job("running", "a", 2, admitted=0),
        job("big", "a", 4, created=0),  # starving, and first in the cohort's order: it holds the 2 free gpus
        job("batch", "serving", 1, created=650),
        service("chat", "serving", 1, created=690, priority=10),
    ]
    assert admitted(run(queues, workloads, now=700, config=starve)) == ["chat"]
