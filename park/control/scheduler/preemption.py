"""Choosing victims: who may be preempted for a workload, in which order, and the smallest set that works.

Follows Kueue's classical preemption (pkg/scheduler/preemption): candidates come from the preemptor's
own queue (withinQueue policy) and from other queues of its cohort that borrow the contested resources
(reclaimWithinCohort, borrowWithinCohort). Candidates are removed in order until the preemptor fits,
then any that turn out unnecessary are put back (newest first), so the set is minimal.

Where Park differs: candidates are ordered by least unsaved work first (kueue#477), then lowest
priority, then shortest runtime; a workload younger than `min_runtime_s` is never a candidate
(Kueue KEP-9876); a preemptor must beat both the victim's base priority (Kueue's rule) and the
effective priority the victim had when it was admitted (so aging and preemption agree); and
workloads already being evicted count first and free of charge, so a preemptor whose victims are
still leaving waits instead of picking more victims.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from park.control.scheduler.model import (
    BorrowWithinCohort,
    PolicyConfig,
    PreemptionPolicy,
    QueueName,
    ReclaimWithinCohort,
    WithinQueue,
    Workload,
    WorkloadId,
    WorkloadKind,
)
from park.control.scheduler.ordering import admitted_rank, effective_priority
from park.control.scheduler.quota import Amounts, QuotaBook


@dataclass(frozen=True)
class Holder:
    """An admitted workload and what it holds from quota."""

    workload: Workload
    amounts: Amounts


VictimReason = Literal["in-flight", "queue", "reclaim", "borrow"]
"""Already leaving; same queue (withinQueue); taking back nominal quota; preempting while borrowing."""


@dataclass(frozen=True)
class Victim:
    holder: Holder
    why: VictimReason


@dataclass(frozen=True)
class Plan:
    victims: tuple[Victim, ...]

    @property
    def new(self) -> tuple[Victim, ...]:
        return tuple(v for v in self.victims if v.why != "in-flight")


@dataclass(frozen=True)
class Request:
    """One preemption question: may `workload`, charged as `option`, make room in `queue`?"""

    workload: Workload
    option: Amounts
    now: float
    config: PolicyConfig

    @property
    def queue(self) -> QueueName:
        return self.workload.queue

    @cached_property
    def rank(self) -> float:
        return effective_priority(self.workload, self.now, self.config)

    def outranks(self, victim: Workload) -> bool:
        """Lower base priority and lower effective priority at its admission."""
        w = self.workload
        return victim.priority < w.priority and admitted_rank(victim, self.config) < self.rank


Admitted = Mapping[QueueName, Mapping[WorkloadId, Holder]]
"""Admitted holders by queue (the engine's live index; only the preemptor's cohort is read)."""


@dataclass(frozen=True)
class Hints:
    """What the engine already knows, so the search can skip queues without reading their workloads."""

    any_in_flight: bool = True
    """False promises no admitted workload of the cohort is being evicted."""
    lowest_priority: int | None = None
    """The lowest priority admitted (and not evicting) in the preemptor's queue, when known."""


def plan(request: Request, book: QuotaBook, admitted: Admitted, hints: Hints | None = None) -> Plan | None:
    """The smallest acceptable victim set, or None when preemption cannot make the workload fit."""
    needed = set(book.shortfall(request.queue, request.option))
    pools = _candidates(request, book, admitted, needed, hints or Hints())
    if pools is None:
        return None
    in_flight, own, reclaim, borrow = pools
    order = _victim_order(request, [h.workload for h in (*in_flight, *own, *reclaim, *borrow)])
    leaving: _Pool = (in_flight, "in-flight")
    mine: _Pool = (own, "queue")
    if (own or reclaim) and book.within_nominal(request.queue, request.option):
        # Kueue's order: first try to end within nominal quota, taking back what others borrowed ...
        chosen = _minimal(request, book, needed, order, [leaving, mine, (reclaim, "reclaim")], borrow=False)
        if chosen:
            return Plan(chosen)
    # ... then borrow, taking only from the own queue and from borrowers below the threshold.
    chosen = _minimal(request, book, needed, order, [leaving, mine, (borrow, "borrow")], borrow=True)
    return Plan(chosen) if chosen else None


_Pools = tuple[list[Holder], list[Holder], list[Holder], list[Holder]]
_Pool = tuple[list[Holder], VictimReason]


def _candidates(
    request: Request, book: QuotaBook, admitted: Admitted, needed: set[str], hints: Hints
) -> _Pools | None:
    """Split the cohort's admitted workloads into in-flight, own-queue, reclaim and borrow candidates."""
    w, policy = request.workload, book.spec(request.queue).preemption
    in_flight: list[Holder] = []
    own: list[Holder] = []
    reclaim: list[Holder] = []
    borrow: list[Holder] = []
    own_hope = _own_queue_hope(policy.within_queue, w, hints.lowest_priority)
    for name in book.queues_in(book.cohort_of(w.queue)):
        mine = name == w.queue
        lending = not mine and book.borrowing_in(name, needed)
        if not ((mine and own_hope) or lending or hints.any_in_flight):
            continue  # a queue within its nominal quota loses nothing to others
        for holder in admitted.get(name, {}).values():
            v = holder.workload
            if needed.isdisjoint(holder.amounts):
                continue
            if v.evicting:
                in_flight.append(holder)
            elif _protected(v, request):
                continue
            elif mine:
                if _within_queue_ok(policy.within_queue, request, v):
                    own.append(holder)
            elif lending and _fair_to_take(request, book, holder):
                if _reclaim_ok(policy.reclaim_within_cohort, request, v):
                    reclaim.append(holder)
                if _borrow_ok(policy, request, v):
                    borrow.append(holder)
    if not (in_flight or own or reclaim or borrow):
        return None
    return in_flight, own, reclaim, borrow


def _own_queue_hope(policy: WithinQueue, w: Workload, lowest: int | None) -> bool:
    """Whether any workload of the preemptor's own queue could qualify, judged by priority alone."""
    if policy is WithinQueue.NEVER:
        return False
    if lowest is None:
        return True
    if policy is WithinQueue.LOWER_PRIORITY:
        return lowest < w.priority
    return lowest <= w.priority


def _fair_to_take(request: Request, book: QuotaBook, holder: Holder) -> bool:
    """Under fair sharing, take from another queue only if fair sharing would then keep it taken.

    Kueue's fair-sharing preemption rules (LessThanOrEqualToFinalShare, LessThanInitialShare): the
    preemptor's queue, with the preemptor admitted, must not end with a larger share than the victim's
    queue has without the victim, or must be below the victim queue's share now. Otherwise the next
    cycle hands the freed room straight back to the victim's queue, and the two evict each other forever.
    """
    if not request.config.fair_sharing:
        return True
    mine = book.share(request.queue, request.option)
    theirs = holder.workload.queue
    final = book.share(theirs, {name: -amount for name, amount in holder.amounts.items()})
    return mine <= final or mine < book.share(theirs)


def _protected(victim: Workload, request: Request) -> bool:
    """Not preemptible at all, admitted this very cycle, or too young to have made progress."""
    if not victim.preemptible or victim.admitted_at is None:
        return True
    ran = request.now - victim.admitted_at
    return ran <= 0 or ran < request.config.min_runtime_s


def _within_queue_ok(policy: WithinQueue, request: Request, v: Workload) -> bool:
    w = request.workload
    if policy is WithinQueue.LOWER_PRIORITY:
        return request.outranks(v)
    if policy is WithinQueue.LOWER_OR_NEWER_EQUAL_PRIORITY:
        return request.outranks(v) or (v.priority == w.priority and v.queue_time > w.queue_time)
    return False


def _reclaim_ok(policy: ReclaimWithinCohort, request: Request, v: Workload) -> bool:
    if policy is ReclaimWithinCohort.ANY:
        return True
    return policy is ReclaimWithinCohort.LOWER_PRIORITY and request.outranks(v)


def _borrow_ok(policy: PreemptionPolicy, request: Request, v: Workload) -> bool:
    if policy.borrow_within_cohort is BorrowWithinCohort.NEVER or not request.outranks(v):
        return False
    threshold = policy.max_priority_threshold
    return threshold is None or v.priority <= threshold


def _victim_order(request: Request, workloads: Sequence[Workload]) -> dict[str, tuple[object, ...]]:
    """Sort keys: leaving already, other queues' borrowers, least unsaved work, lowest priority, ...

    ... then the service with the most admitted replicas (trim wide services first, kueue#3762), then
    the shortest runtime so far, then id for a total order.
    """
    sizes = Counter(w.group for w in workloads if w.group is not None and w.kind is WorkloadKind.SERVICE)
    keys: dict[str, tuple[object, ...]] = {}
    for v in workloads:
        keys[v.id] = (
            0 if v.evicting else 1,
            0 if v.queue != request.queue else 1,
            _unsaved_bucket(v, request),
            v.priority,
            -sizes.get(v.group, 0) if v.group is not None else 0,
            -(v.admitted_at or 0.0),
            v.id,
        )
    return keys


def _unsaved_bucket(v: Workload, request: Request) -> float:
    """Work lost by preempting now: time since its last checkpoint (or start); services lose none."""
    if v.kind is WorkloadKind.SERVICE:
        return 0.0
    start = v.admitted_at or 0.0
    saved = max(start, v.last_checkpoint_at) if v.last_checkpoint_at is not None else start
    lost = max(0.0, request.now - saved)
    bucket = request.config.checkpoint_bucket_s
    return float(math.floor(lost / bucket)) if bucket > 0 else lost


def _minimal(
    request: Request,
    book: QuotaBook,
    needed: set[str],
    order: Mapping[str, tuple[object, ...]],
    pools: Sequence[_Pool],
    *,
    borrow: bool,
) -> tuple[Victim, ...]:
    """Remove candidates in order until the workload fits, then put back the ones it did not need."""
    why: dict[WorkloadId, VictimReason] = {}
    unique: dict[WorkloadId, Holder] = {}
    for holders, reason in pools:
        for holder in holders:
            why.setdefault(holder.workload.id, reason)
            unique[holder.workload.id] = holder
    removed: list[Holder] = []
    try:
        for holder in sorted(unique.values(), key=lambda h: order[h.workload.id]):
            v = holder.workload
            if v.queue != request.queue and not v.evicting and not book.borrowing_in(v.queue, needed):
                continue  # earlier removals already brought that queue back within its quota
            book.charge(v.queue, holder.amounts, -1)
            removed.append(holder)
            if book.fits(request.queue, request.option, borrow=borrow):
                _fill_back(request, book, removed, borrow=borrow)
                return tuple(Victim(h, why[h.workload.id]) for h in removed)
        return ()
    finally:
        for holder in removed:
            book.charge(holder.workload.queue, holder.amounts)


def _fill_back(request: Request, book: QuotaBook, removed: list[Holder], *, borrow: bool) -> None:
    """Drop from `removed` (restoring their usage) every victim the workload turns out not to need."""
    for holder in reversed(removed[:-1]):
        book.charge(holder.workload.queue, holder.amounts)
        if book.fits(request.queue, request.option, borrow=borrow):
            removed.remove(holder)
        else:
            book.charge(holder.workload.queue, holder.amounts, -1)
