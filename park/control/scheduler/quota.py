"""Quota accounting: per-queue usage, per-cohort aggregates, and the fit test every admission runs.

A queue's nominal quota splits into a guaranteed part (nominal - lending limit) that only it may use and
a lendable part that goes into its cohort's pool. A queue may use its guaranteed part plus whatever of
the pool the other queues leave, up to nominal + borrowing limit. Keeping `over` (how much of the pool
each cohort draws) as a running aggregate makes a fit test O(resources), whatever the number of queues.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from park.control.scheduler.flavors import flavor_of, flavor_options, on_flavor, quota_vectors
from park.control.scheduler.model import QueueName, QueueSpec, Workload
from park.control.scheduler.resources import GPU, GPU_FLAVOR_PREFIX, Resources

CohortKey = tuple[str, str]
"""("cohort", name) for a named cohort; ("queue", name) for a queue that shares with no one."""

Amounts = Mapping[str, int]

UNLIMITED = 2**62
"""Room for a resource no queue of the cohort declares: the scheduler does not manage it."""


def cohort_key(spec: QueueSpec) -> CohortKey:
    return ("cohort", spec.cohort) if spec.cohort else ("queue", spec.name)


@dataclass
class _Queue:
    spec: QueueSpec
    key: CohortKey
    nominal: dict[str, int]
    guaranteed: dict[str, int]
    cap: dict[str, int | None]
    usage: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    """usage + this cycle's reservations: what fit tests see."""


@dataclass
class _Cohort:
    queues: list[QueueName] = field(default_factory=list)
    pool: dict[str, int] = field(default_factory=dict)
    over: dict[str, int] = field(default_factory=dict)


class QuotaBook:
    """Mutable usage ledger for one engine; every change goes through `charge` or `reserve`."""

    def __init__(self, specs: Iterable[QueueSpec]) -> None:
        self._queues: dict[QueueName, _Queue] = {}
        self._cohorts: dict[CohortKey, _Cohort] = {}
        self._reservations: list[tuple[QueueName, Amounts]] = []
        self._options: dict[tuple[QueueName, Resources], list[dict[str, int]]] = {}
        for spec in sorted(specs, key=lambda s: s.name):
            self._add_queue(spec)

    def _add_queue(self, spec: QueueSpec) -> None:
        key = cohort_key(spec)
        if spec.flavors:
            vector, borrowing, lending = quota_vectors(spec.flavors)
        else:
            vector, borrowing, lending = spec.nominal, spec.borrowing_limit, spec.lending_limit
        nominal = dict(vector.items())
        guaranteed, cap = {}, {}
        for name, amount in nominal.items():
            lend = _limit(lending, name)
            guaranteed[name] = amount - min(amount, amount if lend is None else lend)
        names = set(nominal) | set(borrowing.names() if borrowing else ())
        for name in names:
            cap[name] = _cap(spec, borrowing, name, nominal.get(name, 0))
        self._queues[spec.name] = _Queue(spec, key, nominal, guaranteed, cap)
        cohort = self._cohorts.setdefault(key, _Cohort())
        cohort.queues.append(spec.name)
        for name, amount in nominal.items():
            cohort.pool[name] = cohort.pool.get(name, 0) + amount - guaranteed[name]

    # ------------------------------------------------------------------ structure

    def has_queue(self, queue: QueueName) -> bool:
        return queue in self._queues

    def spec(self, queue: QueueName) -> QueueSpec:
        return self._queues[queue].spec

    def cohort_of(self, queue: QueueName) -> CohortKey:
        return self._queues[queue].key

    def cohorts(self) -> list[CohortKey]:
        return sorted(self._cohorts)

    def queues_in(self, key: CohortKey) -> list[QueueName]:
        return self._cohorts[key].queues

    # ------------------------------------------------------------------ changes

    def charge(self, queue: QueueName, amounts: Amounts, sign: int = 1) -> None:
        """Add (sign=1) or release (sign=-1) an admitted workload's usage."""
        self._shift(queue, amounts, sign, real=True)

    def reserve(self, queue: QueueName, amounts: Amounts) -> None:
        """Hold capacity for a workload for the rest of this cycle, so nothing later backfills it."""
        self._shift(queue, amounts, 1, real=False)
        self._reservations.append((queue, amounts))

    @contextmanager
    def lifted(self, queue: QueueName, amounts: Amounts) -> Iterator[None]:
        """Set one reservation aside while a workload that outranks its owner is placed."""
        self._shift(queue, amounts, -1, real=False)
        try:
            yield
        finally:
            self._shift(queue, amounts, 1, real=False)

    def clear_reservations(self) -> None:
        for queue, amounts in self._reservations:
            self._shift(queue, amounts, -1, real=False)
        self._reservations.clear()

    def _shift(self, queue: QueueName, amounts: Amounts, sign: int, *, real: bool) -> None:
        q = self._queues[queue]
        over = self._cohorts[q.key].over
        for name, amount in amounts.items():
            before = q.held.get(name, 0)
            after = before + sign * amount
            q.held[name] = after
            if real:
                q.usage[name] = q.usage.get(name, 0) + sign * amount
            g = q.guaranteed.get(name, 0)
            over[name] = over.get(name, 0) + max(0, after - g) - max(0, before - g)

    # ------------------------------------------------------------------ questions

    def free(self, queue: QueueName, name: str, *, borrow: bool = True) -> int:
        """How much more of `name` this queue could take now (borrowing from the cohort if allowed)."""
        q = self._queues[queue]
        cohort = self._cohorts[q.key]
        if name not in q.cap and name not in cohort.pool:
            return UNLIMITED
        held = q.held.get(name, 0)
        g = q.guaranteed.get(name, 0)
        cap = q.cap.get(name, 0) if borrow else q.nominal.get(name, 0)
        others = cohort.over.get(name, 0) - max(0, held - g)
        room = cohort.pool.get(name, 0) - others + g - held
        if cap is not None:
            room = min(room, cap - held)
        return max(0, room)

    def fits(self, queue: QueueName, amounts: Amounts, *, borrow: bool = True) -> bool:
        return all(amount <= self.free(queue, name, borrow=borrow) for name, amount in amounts.items())

    def shortfall(self, queue: QueueName, amounts: Amounts) -> dict[str, int]:
        """Free amount of every resource that is short (the names that need preemption)."""
        short = {}
        for name, amount in amounts.items():
            room = self.free(queue, name)
            if amount > room:
                short[name] = room
        return short

    def ceiling(self, queue: QueueName, name: str) -> int:
        """The most of `name` this queue could ever hold: with its whole cohort idle."""
        q = self._queues[queue]
        if not self._managed(q, name):
            return UNLIMITED
        room = self._cohorts[q.key].pool.get(name, 0) + q.guaranteed.get(name, 0)
        cap = q.cap.get(name, 0)
        return room if cap is None else min(room, cap)

    def within_nominal(self, queue: QueueName, amounts: Amounts) -> bool:
        """Whether the demand alone fits the queue's nominal quota (else reclaiming cannot help)."""
        q = self._queues[queue]
        return all(
            amount <= q.nominal.get(name, 0) or not self._managed(q, name) for name, amount in amounts.items()
        )

    def _managed(self, q: _Queue, name: str) -> bool:
        return name in q.cap or name in self._cohorts[q.key].pool

    def ever_fits(self, queue: QueueName, amounts: Amounts) -> bool:
        return all(amount <= self.ceiling(queue, name) for name, amount in amounts.items())

    def borrowing_in(self, queue: QueueName, names: Iterable[str]) -> bool:
        """Real usage above nominal in any of `names`: only such queues lose workloads to reclaim."""
        q = self._queues[queue]
        return any(q.usage.get(name, 0) > q.nominal.get(name, 0) for name in names)

    def is_borrowing(self, queue: QueueName) -> bool:
        """Holding (with this cycle's reservations) more than its nominal quota of anything."""
        q = self._queues[queue]
        return any(held > q.nominal.get(name, 0) for name, held in q.held.items())

    def share(self, queue: QueueName, extra: Amounts | None = None) -> float:
        """Weighted dominant resource share (Kueue's DRS): what the queue borrows over the cohort's pool.

        Zero while within nominal quota; a zero weight makes any borrowing an infinite share.
        """
        q = self._queues[queue]
        extra = extra or {}
        pool = self._cohorts[q.key].pool
        dominant = 0.0
        for name in set(q.held) | set(extra):
            borrowed = q.held.get(name, 0) + extra.get(name, 0) - q.nominal.get(name, 0)
            if borrowed > 0:
                lendable = pool.get(name, 0)
                dominant = max(dominant, borrowed / lendable if lendable else math.inf)
        if dominant == 0.0:
            return 0.0
        return dominant / q.spec.weight if q.spec.weight else math.inf

    def options_for(self, w: Workload) -> list[dict[str, int]]:
        """The vectors `w` may be charged as; a workload tied to a flavor (see `Workload.flavor`) has one."""
        options = self.options(w.queue, w.demand)
        if w.flavor is None or not self._queues[w.queue].spec.flavors:
            return options
        return [o for o in options if flavor_of(o) == w.flavor]

    def holding(self, w: Workload) -> dict[str, int]:
        """What an admitted workload the engine did not admit itself holds: on the flavor it was given."""
        if w.flavor is not None and self._queues[w.queue].spec.flavors:
            return on_flavor(w.demand.nonzero(), w.flavor)
        options = self.options(w.queue, w.demand)
        return options[0] if options else dict(w.demand.nonzero())

    def options(self, queue: QueueName, demand: Resources) -> list[dict[str, int]]:
        """The concrete vectors a demand may be charged as, in the queue's preference order.

        On a queue with flavors: the demand on each flavor that may run it (`flavors.flavor_options`).
        Otherwise a plain `gpu` request goes to the queue's typed gpus (`gpu/nvidia-a100`, ...) in the
        order its nominal quota lists them, unless the queue has quota for plain `gpu` itself.
        """
        cache_key = (queue, demand)
        cached = self._options.get(cache_key)
        if cached is not None:
            return cached
        raw = demand.nonzero()
        nominal = self._queues[queue].nominal
        flavors = [n for n in nominal if n.startswith(GPU_FLAVOR_PREFIX)]
        if self._queues[queue].spec.flavors:
            result = flavor_options(self._queues[queue].spec.flavors, raw)
        elif GPU not in raw or GPU in nominal or not flavors:
            result = [raw]
        else:
            rest = {n: v for n, v in raw.items() if n != GPU}
            result = [{**rest, f: rest.get(f, 0) + raw[GPU]} for f in flavors]
        self._options[cache_key] = result
        return result

    # ------------------------------------------------------------------ report

    def nominal(self, queue: QueueName) -> Resources:
        return Resources(self._queues[queue].nominal)

    def used(self, queue: QueueName) -> Resources:
        return Resources({n: v for n, v in self._queues[queue].usage.items() if v})

    def borrowed(self, queue: QueueName) -> Resources:
        q = self._queues[queue]
        return Resources({n: v - q.nominal.get(n, 0) for n, v in q.usage.items() if v > q.nominal.get(n, 0)})

    def over_limits(self) -> list[str]:
        """Every quota rule the real usage breaks (used by tests; empty in a consistent book)."""
        broken = []
        for name, q in self._queues.items():
            for res, used in q.usage.items():
                cap = q.cap.get(res, 0)
                if cap is not None and used > cap:
                    broken.append(f"{name} uses {used} {res} > cap {cap}")
        for key, cohort in self._cohorts.items():
            for res in cohort.over:
                drawn = sum(
                    max(0, self._queues[n].usage.get(res, 0) - self._queues[n].guaranteed.get(res, 0))
                    for n in cohort.queues
                )
                if drawn > cohort.pool.get(res, 0):
                    broken.append(f"{key} draws {drawn} {res} > pool {cohort.pool.get(res, 0)}")
        return broken


def _limit(limit: Resources | None, name: str) -> int | None:
    """The limit's amount for `name`, or None when the limit (or that name in it) is absent."""
    return limit.raw(name) if limit is not None and name in limit.names() else None


def _cap(spec: QueueSpec, borrowing: Resources | None, name: str, nominal: int) -> int | None:
    """nominal + borrowing limit; None when unbounded. A queue outside a cohort cannot borrow."""
    if spec.cohort is None:
        return nominal
    borrow = _limit(borrowing, name)
    return None if borrow is None else nominal + borrow
