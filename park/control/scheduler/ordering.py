"""Queue order with aging, and the pending structure that keeps it without re-sorting each cycle.

Order in a queue: higher effective priority first, then earlier queue time, then id (so the order is
total and never depends on input order). Effective priority = base + min(cap, waited / interval): it
grows continuously, so a low-priority workload eventually passes newer high-priority ones (kueue#754).

Pending workloads of a queue are kept in groups of equal (base priority, demand), each sorted by queue
time. Inside a group aging preserves the order (older = more aged), so only the group heads need
comparing each cycle, and a group whose head neither fits nor can preempt is skipped whole: its other
members ask for the same thing with no better claim.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Iterator

from park.control.scheduler.model import PolicyConfig, Workload
from park.control.scheduler.resources import Resources

OrderKey = tuple[float, float, str]
GroupKey = tuple[int, Resources]


def effective_priority(workload: Workload, now: float, config: PolicyConfig) -> float:
    if config.aging_interval_s is None or config.aging_interval_s <= 0:
        return float(workload.priority)
    waited = max(0.0, now - workload.queue_time)
    return workload.priority + min(config.aging_cap, waited / config.aging_interval_s)


def admitted_rank(workload: Workload, config: PolicyConfig) -> float:
    """The effective priority an admitted workload had when it was admitted; it keeps it while it runs.

    Preemptors must beat it, so a workload that aged its way in is not thrown out by the very
    workloads it passed in line (they would only hand its place to the next aged one).
    """
    at = workload.admitted_at if workload.admitted_at is not None else workload.queue_time
    return effective_priority(workload, at, config)


def order_key(workload: Workload, now: float, config: PolicyConfig) -> OrderKey:
    return (-effective_priority(workload, now, config), workload.queue_time, workload.id)


def is_starving(workload: Workload, now: float, config: PolicyConfig) -> bool:
    limit = config.starvation_after_s
    return limit is not None and now - workload.queue_time >= limit


def group_key(workload: Workload) -> GroupKey:
    return (workload.priority, workload.demand)


def _fifo_key(workload: Workload) -> tuple[float, str]:
    return (workload.queue_time, workload.id)


class PendingQueue:
    """The pending workloads of one queue, grouped so a cycle touches group heads, not every workload."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, list[Workload]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, workload: Workload) -> None:
        insort(self.groups.setdefault(group_key(workload), []), workload, key=_fifo_key)
        self._count += 1

    def remove(self, workload: Workload) -> None:
        key = group_key(workload)
        members = self.groups[key]
        index = bisect_left(members, _fifo_key(workload), key=_fifo_key)
        if index >= len(members) or members[index].id != workload.id:
            raise KeyError(workload.id)
        del members[index]
        if not members:
            del self.groups[key]
        self._count -= 1

    def position(self, workload: Workload, now: float, config: PolicyConfig) -> int:
        """1-based place in queue order: per group, a binary search counts who is ahead."""
        mine = order_key(workload, now, config)
        ahead = 0
        for members in self.groups.values():
            ahead += bisect_left(members, mine, key=lambda w: order_key(w, now, config))
        return ahead + 1

    def ordered(self, now: float, config: PolicyConfig) -> Iterator[Workload]:
        """Every pending workload in queue order (a k-way merge of the groups, no full sort)."""
        streams = [((order_key(w, now, config), w) for w in members) for members in self.groups.values()]
        for _, workload in heapq.merge(*streams, key=lambda pair: pair[0]):
            yield workload


class Cursor:
    """One cycle's walk over a queue in order: a heap of group heads with keys fixed at `now`."""

    def __init__(self, pending: PendingQueue, now: float, config: PolicyConfig) -> None:
        self._pending = pending
        self._now = now
        self._config = config
        self._heap: list[tuple[OrderKey, GroupKey]] = [
            (order_key(members[0], now, config), key) for key, members in pending.groups.items()
        ]
        heapq.heapify(self._heap)

    def peek(self) -> Workload | None:
        if not self._heap:
            return None
        return self._pending.groups[self._heap[0][1]][0]

    def taken(self, workload: Workload) -> None:
        """The head left the queue (admitted): its group's next member becomes a candidate."""
        _, key = heapq.heappop(self._heap)
        self._pending.remove(workload)
        members = self._pending.groups.get(key)
        if members:
            heapq.heappush(self._heap, (order_key(members[0], self._now, self._config), key))

    def skip_group(self) -> GroupKey:
        """The head stays pending and so does its group for this cycle."""
        return heapq.heappop(self._heap)[1]

    def clear(self) -> None:
        self._heap.clear()
