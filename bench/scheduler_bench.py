"""Park's scheduler against baselines, each pair run on the same trace in the same process.

Run from the repository root: `python bench/scheduler_bench.py` (about 90 s, most of it the naive
engine; `--quick` runs 3 cycles of part 1 only).

1. Admission throughput in Kueue's scheduler perf-test shape (test/performance/scheduler/configs/
   baseline), scaled to 100 queues in 10 cohorts: each queue 20 gpu nominal, borrowing limit 100,
   reclaimWithinCohort Any, withinClusterQueue LowerPriority; per queue 70 small (1 gpu, 0.2 s,
   priority 50), 20 medium (5 gpu, 0.5 s, 100) and 10 large (20 gpu, 1 s, 200): 10,000 pending at
   once. Park's incremental engine vs a naive engine with the same policy that recounts usage and
   re-sorts every pending workload each cycle. Engine time only, on a fake clock (a cycle per 0.1 s).
   Kueue's own baseline run of its shape admits about 43 workloads/s, wall clock with an apiserver.
2. A day on 64 gpus: a training backlog (1 in 5 jobs urgent) with six serving spikes on top. Park's
   policy (priorities, preemption, cohort borrowing, fair sharing, aging) vs strict FIFO without
   preemption, both as one shared queue and as fixed per-team quotas.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from rich.console import Console
from rich.table import Table

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
    Wait,
    WithinQueue,
    Workload,
    WorkloadId,
    WorkloadKind,
)
from park.control.scheduler.ordering import effective_priority, is_starving, order_key
from park.control.scheduler.preemption import Holder, Request, plan
from park.control.scheduler.quota import QuotaBook

HOUR = 3600.0


class Engine(Protocol):
    def upsert(self, workload: Workload) -> None: ...
    def remove(self, workload_id: WorkloadId) -> None: ...
    def cycle(self, now: float) -> list[Decision]: ...


# ---------------------------------------------------------------- the naive baseline


class NaiveScheduler:
    """The same policy with textbook structures: each cycle recounts usage from every admitted
    workload, sorts every pending workload, and tries them one by one (no groups, no aggregates)."""

    def __init__(self, config: PolicyConfig, queues: tuple[QueueSpec, ...]) -> None:
        self.config, self.queues = config, queues
        self.strict = {q.name for q in queues if q.strategy is QueueingStrategy.STRICT_FIFO}
        self.hold: tuple[QueueName, dict[str, int], float] | None = None
        self.workloads: dict[WorkloadId, Workload] = {}

    def upsert(self, workload: Workload) -> None:
        self.workloads[workload.id] = workload

    def remove(self, workload_id: WorkloadId) -> None:
        self.workloads.pop(workload_id, None)

    def cycle(self, now: float) -> list[Decision]:
        book = QuotaBook(self.queues)
        for w in self.workloads.values():
            if w.admitted:
                book.charge(w.queue, w.holding.nonzero())
        pending = [w for w in self.workloads.values() if not w.admitted]
        lines: dict[QueueName, list[Workload]] = {q.name: [] for q in self.queues}
        for w in sorted(pending, key=lambda w: order_key(w, now, self.config)):
            lines[w.queue].append(w)
        out: list[Decision] = []
        for cohort in book.cohorts():
            self._cohort(book, {n: lines[n] for n in book.queues_in(cohort)}, now, out)
        return out

    def _cohort(
        self, book: QuotaBook, lines: dict[QueueName, list[Workload]], now: float, out: list[Decision]
    ) -> None:
        self.hold: tuple[QueueName, dict[str, int], float] | None = None  # one per cohort, as in the engine
        nominated = sorted((w for line in lines.values() for w in line if w.nominated), key=self._order(now))
        done = {w.id: self._place(book, w, now, out) for w in nominated}
        lines = {n: [w for w in line if done.get(w.id) != "admitted"] for n, line in lines.items()}
        index = dict.fromkeys(lines, 0)
        failed: set[tuple[QueueName, int, Resources]] = set()  # equal demand behind a failed head: same fate
        while heads := [(n, lines[n][index[n]]) for n in lines if index[n] < len(lines[n])]:
            name, w = min(heads, key=lambda head: self._key(book, head[1], now))
            index[name] += 1
            if (name, w.priority, w.demand) in failed:
                continue
            outcome = done[w.id] if w.id in done else self._place(book, w, now, out)
            if outcome == "waiting" and name in self.strict:
                index[name] = len(lines[name])
            elif outcome != "admitted":
                failed.add((name, w.priority, w.demand))

    def _order(self, now: float) -> Callable[[Workload], tuple[float, float, str]]:
        return lambda w: order_key(w, now, self.config)

    def _key(self, book: QuotaBook, w: Workload, now: float) -> tuple[float, tuple[float, float, str]]:
        option, q = book.options(w.queue, w.demand)[0], w.queue
        fits = book.fits(q, option)
        if self.config.fair_sharing:
            share = book.share(q, option) if fits else book.share(q)
        elif fits:
            share = 0.0 if book.fits(q, option, borrow=False) else 1.0
        else:
            share = 1.0 if book.is_borrowing(q) else 0.0
        return (share, order_key(w, now, self.config))

    def _place(self, book: QuotaBook, w: Workload, now: float, out: list[Decision]) -> str:
        if self.hold is None or effective_priority(w, now, self.config) <= self.hold[2]:
            return self._try(book, w, now, out)
        with book.lifted(self.hold[0], self.hold[1]):
            return self._try(book, w, now, out)

    def _try(self, book: QuotaBook, w: Workload, now: float, out: list[Decision]) -> str:
        option = book.options(w.queue, w.demand)[0]
        if not book.ever_fits(w.queue, option):
            out.append(Wait(w.id, "never", 1, w.queue))
            return "never"
        if book.fits(w.queue, option):
            book.charge(w.queue, option)
            charged = Resources(dict(option))
            self.workloads[w.id] = replace(w, admitted_at=now, charged=charged, nominated=False)
            out.append(Admit(w.id, "admitted", w.queue, charged, Resources()))
            return "admitted"
        holders: dict[QueueName, dict[WorkloadId, Holder]] = {}
        for v in self.workloads.values():
            if v.admitted:
                holders.setdefault(v.queue, {})[v.id] = Holder(v, v.holding.nonzero())
        chosen = plan(Request(w, option, now, self.config), book, holders)
        for victim in chosen.new if chosen else ():
            v = victim.holder.workload
            self.workloads[v.id] = replace(v, evicting=True)
            self.workloads[w.id] = replace(w, nominated=True)
            out.append(Preempt(v.id, w.id, "preempted"))
        if chosen is not None:
            book.reserve(w.queue, option)
        elif is_starving(w, now, self.config) and self.hold is None:
            self.hold = (w.queue, option, effective_priority(w, now, self.config))
            book.reserve(w.queue, option)
        out.append(Wait(w.id, "waiting", 1, w.queue))
        return "waiting"


# ---------------------------------------------------------------- a fake-clock cluster


@dataclass
class Cluster:
    """Runs a trace against an engine: arrivals, runs that end, preempted work that queues again."""

    engine: Engine
    work: dict[WorkloadId, float]
    """Seconds of work each workload still needs from its next start."""
    checkpoint_every: float | None = None
    engine_s: float = 0.0
    admissions: int = 0
    decisions: int = 0
    busy_gpu_s: float = 0.0
    lost_gpu_s: float = 0.0
    first_start: dict[WorkloadId, float] = field(default_factory=dict)
    finished: set[WorkloadId] = field(default_factory=set)
    running: dict[WorkloadId, Workload] = field(default_factory=dict)
    originals: dict[WorkloadId, Workload] = field(default_factory=dict)
    acts: list[tuple[str, WorkloadId]] = field(default_factory=list)
    """Every Admit and Preempt in order: two engines with one policy must agree on it."""

    def timed(self, call: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = call()
        self.engine_s += time.perf_counter() - start
        return result

    def arrive(self, workloads: Iterable[Workload]) -> None:
        for w in workloads:
            self.originals[w.id] = w
            self.timed(lambda w=w: self.engine.upsert(w))

    def step(self, now: float, dt: float) -> None:
        self._advance(now, dt)
        decisions: list[Decision] = self.timed(lambda: self.engine.cycle(now))  # type: ignore[assignment]
        self.decisions += len(decisions)
        for d in decisions:
            if isinstance(d, Admit):
                self.acts.append(("admit", d.workload))
                self.admissions += 1
                self.first_start.setdefault(d.workload, now)
                self.running[d.workload] = replace(
                    self.originals[d.workload], admitted_at=now, charged=d.charged
                )
            elif isinstance(d, Preempt):
                self.acts.append(("preempt", d.victim))
                self.running[d.victim] = replace(self.running[d.victim], evicting=True)

    def _advance(self, now: float, dt: float) -> None:
        for wid, w in list(self.running.items()):
            if w.evicting:  # suspended since the last cycle: it queues again, unsaved work lost
                self._requeue(w, now)
                continue
            self.busy_gpu_s += dt * w.demand.get("gpu")
            ran = now - (w.admitted_at or now)
            if ran >= self.work[wid]:
                del self.running[wid]
                self.finished.add(wid)
                self.timed(lambda wid=wid: self.engine.remove(wid))
            elif self.checkpoint_every and w.kind is WorkloadKind.JOB and ran % self.checkpoint_every < dt:
                self.running[wid] = replace(w, last_checkpoint_at=now)
                self.timed(lambda w=self.running[wid]: self.engine.upsert(w))

    def _requeue(self, w: Workload, now: float) -> None:
        del self.running[w.id]
        started = w.admitted_at if w.admitted_at is not None else now
        saved = w.last_checkpoint_at if w.last_checkpoint_at is not None else started
        self.work[w.id] -= saved - started
        self.lost_gpu_s += (now - saved) * w.demand.get("gpu")
        self.timed(lambda: self.engine.remove(w.id))
        self.timed(lambda: self.engine.upsert(self.originals[w.id]))


# ---------------------------------------------------------------- 1. throughput, Kueue's shape

KUEUE_CLASSES = (("small", 70, 1, 50, 0.2), ("medium", 20, 5, 100, 0.5), ("large", 10, 20, 200, 1.0))
KUEUE_TICK = 0.1
KUEUE_CONFIG = PolicyConfig(
    aging_interval_s=None, starvation_after_s=None, min_runtime_s=0, checkpoint_bucket_s=0
)


def kueue_shape() -> tuple[tuple[QueueSpec, ...], list[Workload], dict[WorkloadId, float]]:
    policy = PreemptionPolicy(
        within_queue=WithinQueue.LOWER_PRIORITY, reclaim_within_cohort=ReclaimWithinCohort.ANY
    )
    queues, workloads, work = [], [], {}
    rng = random.Random(7)
    for cohort in range(10):
        for index in range(10):
            name = QueueName(f"c{cohort}-q{index}")
            nominal, limit = Resources.of(gpu=20), Resources.of(gpu=100)
            queues.append(QueueSpec(name, nominal, CohortName(f"c{cohort}"), limit, preemption=policy))
            for label, count, gpus, priority, runtime in KUEUE_CLASSES:
                for i in range(count):
                    wid = WorkloadId(f"{name}/{label}-{i}")
                    created = rng.uniform(0, 60)
                    workloads.append(Workload(wid, name, Resources.of(gpu=gpus), created, priority=priority))
                    work[wid] = runtime
    return tuple(queues), workloads, work


@dataclass(frozen=True)
class Throughput:
    admissions: int
    decisions: int
    engine_s: float
    cycles: int
    finished: int
    acts: tuple[tuple[str, WorkloadId], ...]

    def per_s(self, count: int) -> float:
        return count / self.engine_s


def throughput(make: Callable[[tuple[QueueSpec, ...]], Engine], cycles: int | None) -> Throughput:
    """Run `cycles` cycles, or (None) until every workload has finished."""
    queues, workloads, work = kueue_shape()
    cluster = Cluster(make(queues), dict(work))
    cluster.arrive(workloads)
    step = 0
    while len(cluster.finished) < len(workloads) if cycles is None else step < cycles:
        cluster.step(60.0 + step * KUEUE_TICK, KUEUE_TICK)
        step += 1
    finished = len(cluster.finished)
    return Throughput(
        cluster.admissions, cluster.decisions, cluster.engine_s, step, finished, tuple(cluster.acts)
    )


# ---------------------------------------------------------------- 2. a day on 64 gpus


def day_trace(seed: int = 11) -> tuple[list[Workload], dict[WorkloadId, float]]:
    """200 training gangs (1-8 gpus, 30 min to 3 h, 1 in 5 urgent) arriving over 16 h, and six
    serving spikes of 12-20 one-gpu replicas (30 min to 1.5 h) at top priority."""
    rng = random.Random(seed)
    workloads, work = [], {}
    for i in range(200):
        team = QueueName("team-a" if i % 2 else "team-b")
        gang, created = rng.choice((1, 2, 4, 4, 8)), rng.uniform(0, 16 * HOUR)
        urgent = rng.random() < 0.2
        w = Workload(
            WorkloadId(f"{team}/train-{i}"), team, Resources.of(gpu=1), created, gang, 5 if urgent else 0
        )
        workloads.append(w)
        work[w.id] = rng.uniform(0.5, 3) * HOUR
    for spike in range(6):
        start = (2 + spike * 3.5) * HOUR + rng.uniform(0, HOUR)
        for r in range(rng.randint(12, 20)):
            wid = WorkloadId(f"serving/chat-{spike}-{r}")
            kind, group = WorkloadKind.SERVICE, f"chat-{spike}"
            w = Workload(
                wid, QueueName("serving"), Resources.of(gpu=1), start + r * 30, 1, 1000, kind, group=group
            )
            workloads.append(w)
            work[w.id] = rng.uniform(0.5, 1.5) * HOUR
    return workloads, work


PARK_DAY = PolicyConfig(min_runtime_s=1800, checkpoint_bucket_s=60)


def park_queues() -> tuple[QueueSpec, ...]:
    training = PreemptionPolicy(WithinQueue.LOWER_PRIORITY, ReclaimWithinCohort.LOWER_PRIORITY)
    serving = PreemptionPolicy(
        WithinQueue.LOWER_PRIORITY,
        ReclaimWithinCohort.ANY,
        BorrowWithinCohort.LOWER_PRIORITY,
        max_priority_threshold=100,
    )
    org = CohortName("org")
    return (
        QueueSpec(QueueName("serving"), Resources.of(gpu=16), org, preemption=serving, weight=2.0),
        QueueSpec(QueueName("team-a"), Resources.of(gpu=24), org, preemption=training),
        QueueSpec(QueueName("team-b"), Resources.of(gpu=24), org, preemption=training),
    )


def fifo_queues(shared: bool) -> tuple[QueueSpec, ...]:
    strict = QueueingStrategy.STRICT_FIFO
    if shared:
        return (QueueSpec(QueueName("all"), Resources.of(gpu=64), strategy=strict),)
    quotas = (("serving", 16), ("team-a", 24), ("team-b", 24))
    return tuple(QueueSpec(QueueName(n), Resources.of(gpu=g), strategy=strict) for n, g in quotas)


@dataclass(frozen=True)
class DayResult:
    utilisation: float
    goodput: float
    """Utilisation less the work preemptions threw away (since each victim's last checkpoint)."""
    waits: dict[str, list[float]]
    """Time to first admission by class; a workload never admitted counts until the horizon."""
    lost_gpu_h: float

    def mean(self, label: str) -> float:
        return statistics.fmean(self.waits[label])

    def p95(self, label: str) -> float:
        ordered = sorted(self.waits[label])
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def day(policy: str, horizon: float = 24 * HOUR, dt: float = 60.0) -> DayResult:
    workloads, work = day_trace()
    classes = {w.id: _class_of(w) for w in workloads}
    if policy == "park":
        engine: Engine = Scheduler(PARK_DAY, park_queues())
    else:  # arrival order, no priorities, no preemption
        off = PolicyConfig(aging_interval_s=None, starvation_after_s=None)
        engine = Scheduler(off, fifo_queues(shared=policy == "fifo-shared"))
        shared = policy == "fifo-shared"
        workloads = [replace(w, queue=QueueName("all") if shared else w.queue, priority=0) for w in workloads]
    cluster = Cluster(engine, dict(work), checkpoint_every=15 * 60)
    arrivals = sorted(workloads, key=lambda w: w.created_at)
    now, index = 0.0, 0
    while now < horizon:
        start = index
        while index < len(arrivals) and arrivals[index].created_at <= now:
            index += 1
        cluster.arrive(arrivals[start:index])
        cluster.step(now, dt)
        now += dt
    waits: dict[str, list[float]] = {"service": [], "urgent training": [], "training": []}
    for w in workloads:
        waits[classes[w.id]].append(max(0.0, cluster.first_start.get(w.id, horizon) - w.created_at))
    capacity = 64 * horizon
    return DayResult(
        cluster.busy_gpu_s / capacity,
        (cluster.busy_gpu_s - cluster.lost_gpu_s) / capacity,
        waits,
        cluster.lost_gpu_s / HOUR,
    )


def _class_of(w: Workload) -> str:
    if w.kind is WorkloadKind.SERVICE:
        return "service"
    return "urgent training" if w.priority > 0 else "training"


# ---------------------------------------------------------------- output


def show_throughput(console: Console, cycles: int | None) -> None:
    """Both engines on the same trace: until every workload finished, or for `cycles` cycles."""
    park = throughput(lambda q: Scheduler(KUEUE_CONFIG, q), cycles)
    naive = throughput(lambda q: NaiveScheduler(KUEUE_CONFIG, q), cycles)
    span = "until all 10,000 finished" if cycles is None else f"first {cycles} cycles"
    table = Table(
        title=f"1. admission throughput: 10,000 pending, 100 queues, 10 cohorts ({span}, engine time)"
    )
    for column in ("engine", "cycles", "admissions", "decisions", "engine s", "admissions/s", "decisions/s"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for label, r in (("park (incremental)", park), ("naive (re-sort each cycle)", naive)):
        row = (r.cycles, r.admissions, r.decisions, r.engine_s, r.per_s(r.admissions), r.per_s(r.decisions))
        table.add_row(label, *(f"{value:,.0f}" if i != 3 else f"{value:.2f}" for i, value in enumerate(row)))
    console.print(table)
    ratio = park.per_s(park.admissions) / naive.per_s(naive.admissions)
    same = "the same" if park.acts == naive.acts else "DIFFERENT"
    console.print(
        f"park / naive: {ratio:,.1f}x admissions/s; they made {same} admissions and preemptions, in order"
    )
    console.print("Kueue's perf-test baseline admits ~43 workloads/s (wall clock, apiserver included)\n")


def show_day(console: Console) -> None:
    results = {name: day(name) for name in ("park", "fifo-shared", "fifo-teams")}
    table = Table(title="2. a day on 64 gpus: serving spikes over a training backlog (24 h, 1 min cycles)")
    table.add_column("policy")
    for column in ("utilisation", "goodput", "lost gpu-h"):
        table.add_column(column, justify="right")
    for label in ("service", "urgent training", "training"):
        table.add_column(f"{label} wait mean / p95", justify="right")
    for name, r in results.items():
        waits = [
            f"{_duration(r.mean(c))} / {_duration(r.p95(c))}"
            for c in ("service", "urgent training", "training")
        ]
        table.add_row(name, f"{r.utilisation:.1%}", f"{r.goodput:.1%}", f"{r.lost_gpu_h:.0f}", *waits)
    console.print(table)
    park = results["park"]
    for name in ("fifo-shared", "fifo-teams"):
        base = results[name]
        parts = [
            f"utilisation {park.utilisation / base.utilisation:.2f}x",
            f"goodput {park.goodput / base.goodput:.2f}x",
        ]
        for c in ("service", "urgent training", "training"):
            parts.append(
                f"{c} wait {_ratio(base.mean(c), park.mean(c))} mean, {_ratio(base.p95(c), park.p95(c))} p95"
            )
        console.print(f"park vs {name}: " + "; ".join(parts))


def _duration(seconds: float) -> str:
    return f"{seconds / HOUR:.1f} h" if seconds >= HOUR else f"{seconds / 60:.0f} min"


def _ratio(baseline: float, park: float) -> str:
    """How many times shorter park's wait is (1 minute floor, the cycle length)."""
    ratio = max(baseline, 60.0) / max(park, 60.0)
    return f"{ratio:.1f}x shorter" if ratio >= 1 else f"{1 / ratio:.1f}x longer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 cycles of throughput, no day trace")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 160)
    show_throughput(console, cycles=3 if args.quick else None)
    if not args.quick:
        show_day(console)


if __name__ == "__main__":
    main()
