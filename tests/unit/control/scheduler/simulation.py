"""A fake-clock cluster for property tests: arrivals, runs that finish, victims that leave and requeue."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import strategies as st

from park.control.scheduler import (
    Admit,
    BorrowWithinCohort,
    CohortName,
    Decision,
    PolicyConfig,
    Preempt,
    PreemptionPolicy,
    QueueingStrategy,
    QueueName,
    QueueSpec,
    ReclaimWithinCohort,
    Resources,
    Scheduler,
    Snapshot,
    WithinQueue,
    Workload,
    WorkloadId,
    WorkloadKind,
)


@dataclass(frozen=True)
class Arrival:
    workload: Workload
    duration: float


@st.composite
def queue_specs(draw: st.DrawFn, index: int) -> QueueSpec:
    gpu = draw(st.integers(0, 4))
    nominal = {"gpu": gpu, **({"cpu": draw(st.sampled_from([4, 8]))} if draw(st.booleans()) else {})}
    borrow = draw(st.none() | st.integers(0, 4))
    lend = draw(st.none() | st.integers(0, gpu))
    # Policies that preempt are drawn more often than Never: they are where the bugs would hide.
    preemption = PreemptionPolicy(
        within_queue=draw(st.sampled_from([*WithinQueue, WithinQueue.LOWER_PRIORITY])),
        reclaim_within_cohort=draw(st.sampled_from([*ReclaimWithinCohort, ReclaimWithinCohort.ANY])),
        borrow_within_cohort=draw(st.sampled_from([*BorrowWithinCohort, BorrowWithinCohort.LOWER_PRIORITY])),
        max_priority_threshold=draw(st.none() | st.integers(0, 3)),
    )
    cohort = draw(st.sampled_from([None, "c1", "c1", "c2"]))
    return QueueSpec(
        name=QueueName(f"q{index}"),
        nominal=Resources.of(nominal),
        cohort=CohortName(cohort) if cohort else None,
        borrowing_limit=Resources.of(gpu=borrow) if borrow is not None else None,
        lending_limit=Resources.of(gpu=lend) if lend is not None else None,
        weight=draw(st.sampled_from([0.5, 1.0, 2.0])),
        strategy=draw(st.sampled_from(QueueingStrategy)),
        preemption=preemption,
    )


@st.composite
def arrivals(draw: st.DrawFn, queues: tuple[QueueSpec, ...], index: int) -> Arrival:
    per_pod = {
        "gpu": draw(st.integers(0, 2)),
        **({"cpu": draw(st.integers(1, 2))} if draw(st.booleans()) else {}),
    }
    workload = Workload(
        id=WorkloadId(f"w{index}"),
        queue=draw(st.sampled_from([q.name for q in queues])),
        per_pod=Resources.of(per_pod),
        created_at=float(draw(st.integers(0, 15))),
        pods=draw(st.integers(1, 2)),
        priority=draw(st.integers(0, 3)),
        kind=draw(st.sampled_from(WorkloadKind)),
        preemptible=draw(st.booleans() | st.just(True)),
    )
    return Arrival(workload, float(draw(st.integers(3, 10))))


@st.composite
def clusters(draw: st.DrawFn) -> tuple[tuple[QueueSpec, ...], tuple[Arrival, ...]]:
    queues = tuple(draw(queue_specs(i)) for i in range(draw(st.integers(1, 4))))
    work = tuple(draw(arrivals(queues, i)) for i in range(draw(st.integers(1, 16))))
    return queues, work


@dataclass
class Simulation:
    """One step = one second: arrivals join, runs end, victims leave and queue again, then one cycle."""

    queues: tuple[QueueSpec, ...]
    arrivals: tuple[Arrival, ...]
    config: PolicyConfig
    now: float = 0.0
    finished: set[WorkloadId] = field(default_factory=set)
    engine: Scheduler = field(init=False)

    def __post_init__(self) -> None:
        self.engine = Scheduler(self.config, self.queues)
        self._duration = {a.workload.id: a.duration for a in self.arrivals}
        self._original = {a.workload.id: a.workload for a in self.arrivals}

    def feasible(self) -> set[WorkloadId]:
        """Workloads that could run if their whole cohort were idle (the rest wait forever, by design)."""
        book = self.engine.state.book
        return {
            a.workload.id
            for a in self.arrivals
            if any(
                book.ever_fits(a.workload.queue, o) for o in book.options(a.workload.queue, a.workload.demand)
            )
        }

    def snapshot(self) -> Snapshot:
        return Snapshot(self.queues, tuple(self.engine.state.workloads.values()))

    def advance(self) -> None:
        """Everything that happens between two cycles."""
        for arrival in self.arrivals:
            if arrival.workload.created_at == self.now:
                self.engine.upsert(arrival.workload)
        for workload in list(self.engine.state.workloads.values()):
            if workload.evicting:
                self.engine.remove(workload.id)
                self.engine.upsert(self._original[workload.id])  # requeued, keeping its place by age
            elif (
                workload.admitted_at is not None
                and workload.admitted_at + self._duration[workload.id] <= self.now
            ):
                self.engine.remove(workload.id)
                self.finished.add(workload.id)

    def cycle(self) -> list[Decision]:
        decisions = self.engine.cycle(self.now)
        self.now += 1.0
        return decisions


def admitted_ids(decisions: list[Decision]) -> list[WorkloadId]:
    return [d.workload for d in decisions if isinstance(d, Admit)]


def victims(decisions: list[Decision]) -> list[Preempt]:
    return [d for d in decisions if isinstance(d, Preempt)]


def checkpointed(workload: Workload, at: float) -> Workload:
    return replace(workload, last_checkpoint_at=at)
