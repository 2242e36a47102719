"""Each preemption policy, victim order, minimum runtime, in-flight victims, services over training."""

from __future__ import annotations

from dataclasses import replace

import pytest

from park.control.scheduler import (
    BorrowWithinCohort,
    PolicyConfig,
    Preempt,
    PreemptionPolicy,
    ReclaimWithinCohort,
    WithinQueue,
    Workload,
)
from tests.unit.control.scheduler.helpers import PLAIN, admitted, job, preempted, queue, run, service, waits

LOWER = PreemptionPolicy(within_queue=WithinQueue.LOWER_PRIORITY)
CLASSIC = replace(PLAIN, fair_sharing=False)


@pytest.mark.parametrize(
    ("policy", "victim_priority", "victim_created", "expected"),
    [
        (WithinQueue.NEVER, 0, 0, []),
        (WithinQueue.LOWER_PRIORITY, 0, 0, ["v"]),
        (WithinQueue.LOWER_PRIORITY, 10, 0, []),
        (WithinQueue.LOWER_PRIORITY, 20, 0, []),
        (WithinQueue.LOWER_OR_NEWER_EQUAL_PRIORITY, 0, 0, ["v"]),
        (WithinQueue.LOWER_OR_NEWER_EQUAL_PRIORITY, 10, 50, ["v"]),
        (WithinQueue.LOWER_OR_NEWER_EQUAL_PRIORITY, 10, 0, []),
        (WithinQueue.LOWER_OR_NEWER_EQUAL_PRIORITY, 20, 50, []),
    ],
)
def test_within_queue(
    policy: WithinQueue, victim_priority: int, victim_created: float, expected: list[str]
) -> None:
    q = queue("a", 2, preemption=PreemptionPolicy(within_queue=policy))
    workloads = [
        job("v", "a", 2, priority=victim_priority, created=victim_created, admitted=100),
        job("w", "a", 2, priority=10, created=10),
    ]
    assert preempted(run([q], workloads)) == expected


@pytest.mark.parametrize(
    ("policy", "victim_priority", "expected"),
    [
        (ReclaimWithinCohort.NEVER, 0, []),
        (ReclaimWithinCohort.LOWER_PRIORITY, 0, ["v"]),
        (ReclaimWithinCohort.LOWER_PRIORITY, 10, []),
        (ReclaimWithinCohort.ANY, 20, ["v"]),
    ],
)
def test_reclaim_within_cohort(
    policy: ReclaimWithinCohort, victim_priority: int, expected: list[str]
) -> None:
    queues = [
        queue("a", 2, cohort="c", preemption=PreemptionPolicy(reclaim_within_cohort=policy)),
        queue("b", 0, cohort="c"),
    ]
    workloads = [job("v", "b", 2, priority=victim_priority, admitted=0), job("w", "a", 2, priority=10)]
    assert preempted(run(queues, workloads)) == expected


def test_reclaim_never_touches_a_queue_within_its_nominal_quota() -> None:
    queues = [
        queue("a", 2, cohort="c", preemption=PreemptionPolicy(reclaim_within_cohort=ReclaimWithinCohort.ANY)),
        queue("b", 2, cohort="c"),
    ]
    workloads = [job("mine", "a", 2, priority=99, admitted=0), job("v", "b", 2, admitted=0), job("w", "a", 2)]
    assert preempted(run(queues, workloads)) == []


@pytest.mark.parametrize(
    ("borrow", "threshold", "victim_priority", "expected"),
    [
        (BorrowWithinCohort.NEVER, None, 0, []),
        (BorrowWithinCohort.LOWER_PRIORITY, None, 0, ["v"]),
        (BorrowWithinCohort.LOWER_PRIORITY, None, 10, []),
        (BorrowWithinCohort.LOWER_PRIORITY, 5, 5, ["v"]),
        (BorrowWithinCohort.LOWER_PRIORITY, 5, 6, []),
    ],
)
def test_borrow_within_cohort(
    borrow: BorrowWithinCohort, threshold: int | None, victim_priority: int, expected: list[str]
) -> None:
    policy = PreemptionPolicy(
        reclaim_within_cohort=ReclaimWithinCohort.ANY,
        borrow_within_cohort=borrow,
        max_priority_threshold=threshold,
    )
    queues = [queue("a", 1, cohort="c", preemption=policy), queue("b", 3, cohort="c")]
    # b borrows a's only gpu; w needs 2, more than a's nominal, so it can only get them by borrowing.
    workloads = [job("v", "b", 4, priority=victim_priority, admitted=0), job("w", "a", 2, priority=10)]
    assert preempted(run(queues, workloads, config=CLASSIC)) == expected


@pytest.mark.parametrize(
    ("victim_gpus", "expected"),
    [(4, []), (6, ["v"])],
    ids=["equal shares after: fair sharing would undo it", "victim queue stays the bigger borrower"],
)
def test_under_fair_sharing_a_borrower_takes_only_from_bigger_borrowers(
    victim_gpus: int, expected: list[str]
) -> None:
    policy = PreemptionPolicy(borrow_within_cohort=BorrowWithinCohort.LOWER_PRIORITY)
    queues = [
        queue("a", 1, cohort="c", preemption=policy),
        queue("b", 3, cohort="c"),
        queue("idle", 2, cohort="c"),
    ]
    workloads = [
        job("v", "b", victim_gpus, admitted=0),
        job("fill", "idle", 6 - victim_gpus, admitted=0, priority=99)
        if victim_gpus < 6
        else job("x", "idle", 0),
        job("w", "a", 2, priority=10),
    ]
    assert preempted(run(queues, workloads)) == expected


def _three_victims(now: float, config: PolicyConfig, victims: list[Workload]) -> list[str]:
    return preempted(
        run([queue("a", 3, preemption=LOWER)], [*victims, job("w", "a", 1, priority=10)], now, config)
    )


def test_victims_with_the_most_recent_checkpoint_go_first() -> None:
    victims = [
        job("never-saved", "a", priority=0, admitted=0),
        job("saved-just-now", "a", priority=5, admitted=0, checkpoint=990),
        job("saved-long-ago", "a", priority=0, admitted=0, checkpoint=500),
    ]
    assert _three_victims(1000, PLAIN, victims) == ["saved-just-now"]


def test_then_the_lowest_priority_among_equally_cheap_victims() -> None:
    bucketed = PolicyConfig(
        aging_interval_s=None, starvation_after_s=None, min_runtime_s=0, checkpoint_bucket_s=300
    )
    victims = [
        job("p3", "a", priority=3, admitted=0, checkpoint=900),
        job("p1", "a", priority=1, admitted=0, checkpoint=800),
        job("p2", "a", priority=2, admitted=0, checkpoint=950),
    ]
    assert _three_victims(1000, bucketed, victims) == ["p1"]


def test_then_the_shortest_runtime() -> None:
    same_bucket = PolicyConfig(
        aging_interval_s=None, starvation_after_s=None, min_runtime_s=0, checkpoint_bucket_s=1e6
    )
    victims = [
        job("old", "a", admitted=100),
        job("newest", "a", admitted=900),
        job("middle", "a", admitted=500),
    ]
    assert _three_victims(1000, same_bucket, victims) == ["newest"]


def test_borrowers_in_other_queues_go_before_the_queue_own_workloads() -> None:
    policy = PreemptionPolicy(
        within_queue=WithinQueue.LOWER_PRIORITY, reclaim_within_cohort=ReclaimWithinCohort.ANY
    )
    queues = [queue("a", 2, cohort="c", preemption=policy), queue("b", 0, cohort="c")]
    workloads = [
        job("own", "a", 1, admitted=0),
        job("borrower", "b", 1, admitted=0),
        job("w", "a", 1, priority=5),
    ]
    assert preempted(run(queues, workloads)) == ["borrower"]


def test_the_victim_set_is_minimal() -> None:
    workloads = [
        job("small", "a", 1, admitted=0, checkpoint=999),  # cheapest, tried first, but not enough alone
        job("big", "a", 3, admitted=0, checkpoint=998),
        job("w", "a", 3, priority=10),
    ]
    assert preempted(run([queue("a", 4, preemption=LOWER)], workloads)) == ["big"]


@pytest.mark.parametrize(("admitted_at", "expected"), [(950, []), (900, ["v"])])
def test_minimum_runtime_protects_young_workloads(admitted_at: float, expected: list[str]) -> None:
    config = PolicyConfig(aging_interval_s=None, starvation_after_s=None, min_runtime_s=60)
    workloads = [job("v", "a", 1, admitted=admitted_at), job("w", "a", 1, priority=10)]
    assert preempted(run([queue("a", 1, preemption=LOWER)], workloads, 1000, config)) == expected


def test_non_preemptible_workloads_are_never_victims() -> None:
    workloads = [job("v", "a", 1, admitted=0, preemptible=False), job("w", "a", 1, priority=10)]
    assert preempted(run([queue("a", 1, preemption=LOWER)], workloads)) == []


def test_a_preemptor_waits_for_victims_already_leaving_instead_of_choosing_more() -> None:
    workloads = [
        job("leaving", "a", 2, admitted=0, evicting=True),
        job("other", "a", 2, admitted=0),
        job("w", "a", 2, priority=10),
    ]
    decisions = run([queue("a", 4, preemption=LOWER)], workloads)
    assert preempted(decisions) == []
    assert waits(decisions)["w"].reason == "waiting for 1 preempted workload to release capacity, 1st in line"


def test_capacity_freed_by_preemption_counts_only_once_victims_are_gone() -> None:
    workloads = [
        job("v", "a", 2, admitted=0),
        job("w", "a", 4, priority=10, created=1),
        job("x", "a", 2, priority=5, created=2),  # would fit the 2 free gpus, but w holds them
    ]
    decisions = run([queue("a", 4, preemption=LOWER)], workloads)
    assert (preempted(decisions), admitted(decisions)) == (["v"], [])
    found = waits(decisions)
    assert found["w"].reason == "waiting for 1 preempted workload to release capacity, 1st in line"
    assert found["x"].reason == "waiting: needs 2 gpu, a has 0 free, 2nd in line"


def test_a_service_scale_up_preempts_borrowed_training_with_a_readable_reason() -> None:
    reclaim = PreemptionPolicy(reclaim_within_cohort=ReclaimWithinCohort.LOWER_PRIORITY)
    queues = [queue("team-a", 0, cohort="gpus"), queue("team-b", 1, cohort="gpus", preemption=reclaim)]
    workloads = [
        job("team-a/train", "team-a", 1, pods=4, admitted=0),
        service("team-b/chat-serve", "team-b", 1, priority=100),
    ]
    (preempt,) = [d for d in run(queues, workloads) if isinstance(d, Preempt)]
    assert preempt.reason == (
        "preempted by team-b/chat-serve: needed 1 gpu"
        " (team-b reclaims its nominal quota; team-a was borrowing)"
    )


def test_trimming_services_takes_replicas_from_the_widest_service_first() -> None:
    replicas = [service(f"wide-{i}", "a", 1, admitted=0, group="wide") for i in range(3)]
    replicas.append(service("narrow-0", "a", 1, admitted=0, group="narrow"))
    workloads = [*replicas, service("urgent", "a", 1, priority=10)]
    assert preempted(run([queue("a", 4, preemption=LOWER)], workloads)) == ["wide-0"]


def test_a_service_never_preempts_higher_priority_training() -> None:
    workloads = [job("train", "a", 1, admitted=0, priority=50), service("serve", "a", 1, priority=10)]
    assert preempted(run([queue("a", 1, preemption=LOWER)], workloads)) == []


def test_a_workload_that_aged_its_way_in_is_not_preempted_by_those_it_passed() -> None:
    aging = PolicyConfig(aging_interval_s=60, aging_cap=10, starvation_after_s=None, min_runtime_s=0)
    # "old" waited 10 minutes (+10) before it was admitted at 600; "urgent" (priority 5) came later.
    workloads = [job("old", "a", 1, created=0, admitted=600), job("urgent", "a", 1, priority=5, created=650)]
    workloads[0] = replace(workloads[0], queued_at=0.0)
    assert preempted(run([queue("a", 1, preemption=LOWER)], workloads, now=700, config=aging)) == []
    fresh = [job("fresh", "a", 1, created=600, admitted=600), workloads[1]]
    assert preempted(run([queue("a", 1, preemption=LOWER)], fresh, now=700, config=aging)) == ["fresh"]
