"""Properties that hold for any cluster, any workloads, any policy, checked over fake-clock runs."""

from __future__ import annotations

import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from park.control.scheduler import (
    Admit,
    PolicyConfig,
    QueueSpec,
    ReclaimWithinCohort,
    Snapshot,
    WithinQueue,
    Workload,
    schedule,
)
from tests.unit.control.scheduler.simulation import Arrival, Simulation, admitted_ids, clusters, victims

# Modest by default so the unit suite stays fast; PARK_HYPOTHESIS_EXAMPLES=2000 for a soak run.
FAST = settings(
    max_examples=int(os.environ.get("PARK_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CONFIG = PolicyConfig(
    aging_interval_s=5, aging_cap=5, starvation_after_s=15, min_runtime_s=2, checkpoint_bucket_s=0
)
Cluster = tuple[tuple[QueueSpec, ...], tuple[Arrival, ...]]


def _usage_breaks(queues: tuple[QueueSpec, ...], workloads: list[Workload]) -> list[str]:
    """Recount quota use from scratch, independently of the engine's running aggregates."""
    used: dict[str, int] = {}
    for w in workloads:
        if w.admitted:
            used[w.queue] = used.get(w.queue, 0) + w.holding.raw("gpu")
    broken = []
    pools: dict[str, tuple[int, int]] = {}
    for q in queues:
        nominal, mine = q.nominal.raw("gpu"), used.get(q.name, 0)
        limit = q.borrowing_limit.raw("gpu") if q.borrowing_limit is not None else None
        if q.cohort is None and mine > nominal:
            broken.append(f"{q.name} uses {mine} > nominal {nominal}")
        if q.cohort is not None and limit is not None and mine > nominal + limit:
            broken.append(f"{q.name} uses {mine} > nominal+borrowing {nominal + limit}")
        lend = q.lending_limit.raw("gpu") if q.lending_limit is not None else nominal
        guaranteed = nominal - min(nominal, lend)
        if q.cohort is not None:
            pool, drawn = pools.get(q.cohort, (0, 0))
            pools[q.cohort] = (pool + nominal - guaranteed, drawn + max(0, mine - guaranteed))
    broken += [f"cohort {c} draws {d} > pool {p}" for c, (p, d) in pools.items() if d > p]
    return broken


def _may_preempt(victim: Workload, by: Workload, queues: dict[str, QueueSpec]) -> bool:
    if victim.priority < by.priority:
        return True
    policy = queues[by.queue].preemption
    if victim.queue == by.queue:
        newer_equal = policy.within_queue is WithinQueue.LOWER_OR_NEWER_EQUAL_PRIORITY
        return newer_equal and victim.priority == by.priority and victim.queue_time > by.queue_time
    return policy.reclaim_within_cohort is ReclaimWithinCohort.ANY


@FAST
@given(clusters())
def test_usage_never_exceeds_nominal_plus_borrowing_and_no_one_is_preempted_for_less(
    cluster: Cluster,
) -> None:
    queues, work = cluster
    sim, by_name = Simulation(queues, work, CONFIG), {q.name: q for q in queues}
    for _ in range(25):
        sim.advance()
        before = dict(sim.engine.state.workloads)
        decisions = sim.cycle()
        assert _usage_breaks(queues, list(sim.engine.state.workloads.values())) == []
        for preempt in victims(decisions):
            victim, by = before[preempt.victim], before[preempt.by]
            assert victim.admitted and not victim.evicting and victim.preemptible
            assert _may_preempt(victim, by, by_name), preempt.reason


@FAST
@given(clusters())
def test_gangs_are_admitted_whole(cluster: Cluster) -> None:
    queues, work = cluster
    sim = Simulation(queues, work, CONFIG)
    for _ in range(15):
        sim.advance()
        before = dict(sim.engine.state.workloads)
        for decision in sim.cycle():
            if isinstance(decision, Admit):
                assert decision.charged == before[decision.workload].demand


@FAST
@given(clusters(), st.integers(0, 2**16))
def test_decisions_are_deterministic_and_independent_of_input_order(cluster: Cluster, seed: int) -> None:
    queues, work = cluster
    sim = Simulation(queues, work, CONFIG)
    rng = random.Random(seed)
    for _ in range(12):
        sim.advance()
        snapshot = sim.snapshot()
        shuffled = Snapshot(
            tuple(rng.sample(snapshot.queues, len(snapshot.queues))),
            tuple(rng.sample(snapshot.workloads, len(snapshot.workloads))),
        )
        assert schedule(shuffled, sim.now, CONFIG) == schedule(snapshot, sim.now, CONFIG)
        expected = schedule(snapshot, sim.now, CONFIG, explain_all=False)
        assert sim.cycle() == expected  # the long-lived engine decides what a fresh one would


@FAST
@given(clusters())
def test_aging_eventually_admits_everything_that_can_ever_fit(cluster: Cluster) -> None:
    queues, work = cluster
    sim = Simulation(queues, work, CONFIG)
    feasible, ever_admitted = sim.feasible(), set()
    for _ in range(400):
        sim.advance()
        ever_admitted.update(admitted_ids(sim.cycle()))
        if feasible <= sim.finished:
            break
    assert feasible <= sim.finished, f"starved: {sorted(feasible - sim.finished)} at t={sim.now}"
    assert ever_admitted <= feasible
