"""The engine's working state: queues, workloads, pending groups, admitted holders and the quota book.

It is updated by deltas (`upsert`, `remove`, `set_queues`) so a long-lived engine pays per change, not
per workload per cycle; `sync` turns a full snapshot into the deltas against what it already holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace

from park.control.scheduler.flavors import flavor_of
from park.control.scheduler.model import QueueName, QueueSpec, Snapshot, Workload, WorkloadId
from park.control.scheduler.ordering import PendingQueue
from park.control.scheduler.preemption import Holder
from park.control.scheduler.quota import Amounts, CohortKey, QuotaBook
from park.control.scheduler.resources import Resources


class ClusterState:
    """Indexes kept in step with every change, so a cycle never scans all workloads."""

    def __init__(self, queues: Iterable[QueueSpec] = ()) -> None:
        self._reset(queues)

    def _reset(self, queues: Iterable[QueueSpec]) -> None:
        self.specs: dict[QueueName, QueueSpec] = {q.name: q for q in queues}
        self.workloads: dict[WorkloadId, Workload] = {}
        self.book = QuotaBook(self.specs.values())
        self.pending: dict[QueueName, PendingQueue] = {name: PendingQueue() for name in self.specs}
        self.admitted: dict[QueueName, dict[WorkloadId, Holder]] = {name: {} for name in self.specs}
        self.evicting: dict[CohortKey, int] = {}
        self.floors: dict[QueueName, Counter[int]] = {name: Counter() for name in self.specs}
        """Priorities of each queue's admitted, not evicting workloads: a cheap "anyone lower?" test."""
        self.nominated: dict[QueueName, dict[WorkloadId, Workload]] = {name: {} for name in self.specs}
        """Pending workloads that preempted others and wait for the room (see Workload.nominated)."""
        self._orphans: dict[WorkloadId, Workload] = {}

    # ------------------------------------------------------------------ deltas

    def upsert(self, workload: Workload) -> None:
        old = self.workloads.get(workload.id)
        if old is workload or old == workload:
            return
        if old is not None:
            self._detach(old)
        self.workloads[workload.id] = workload
        self._attach(workload)

    def remove(self, workload_id: WorkloadId) -> None:
        old = self.workloads.pop(workload_id, None)
        if old is not None:
            self._detach(old)

    def set_queues(self, queues: Iterable[QueueSpec]) -> None:
        """Replace every queue spec; rebuilds the ledger (quota changes are rare, workloads are not)."""
        workloads = list(self.workloads.values())
        self._reset(queues)
        for workload in workloads:
            self.upsert(workload)

    def sync(self, snapshot: Snapshot) -> None:
        """Bring the state to `snapshot` by applying only what differs."""
        specs = {q.name: q for q in snapshot.queues}
        if specs != self.specs:
            self.set_queues(snapshot.queues)
        seen = set()
        for workload in snapshot.workloads:
            seen.add(workload.id)
            self.upsert(workload)
        for workload_id in [i for i in self.workloads if i not in seen]:
            self.remove(workload_id)

    # ------------------------------------------------------------------ what a cycle decided

    def admit(self, workload: Workload, amounts: Amounts, now: float) -> Workload:
        """Record an admission the cycle made (the pending entry is removed by the cycle's cursor)."""
        self.nominated[workload.queue].pop(workload.id, None)
        charged = Resources(dict(amounts))
        flavor = flavor_of(amounts) or workload.flavor
        admitted = replace(
            workload, admitted_at=now, charged=charged, evicting=False, nominated=False, flavor=flavor
        )
        self.workloads[workload.id] = admitted
        self._hold(Holder(admitted, amounts))
        return admitted

    def nominate(self, workload: Workload) -> Workload:
        """Record that a pending workload preempted others: it goes first until it is admitted."""
        nominated = replace(workload, nominated=True)
        self.upsert(nominated)
        return nominated

    def mark_evicting(self, holder: Holder) -> None:
        self._release(holder)
        victim = replace(holder.workload, evicting=True)
        self.workloads[victim.id] = victim
        self._hold(Holder(victim, holder.amounts))

    # ------------------------------------------------------------------ reading

    def orphans(self) -> list[Workload]:
        """Workloads naming a queue that does not exist (they wait until it does)."""
        return [self._orphans[i] for i in sorted(self._orphans)]

    def admitted_count(self) -> Mapping[QueueName, int]:
        return {name: len(holders) for name, holders in self.admitted.items()}

    # ------------------------------------------------------------------ internals

    def _attach(self, workload: Workload) -> None:
        name = workload.queue
        if name not in self.specs:
            self._orphans[workload.id] = workload
        elif not workload.admitted:
            self.pending[name].add(workload)
            if workload.nominated:
                self.nominated[name][workload.id] = workload
        elif workload.charged is not None:
            self._hold(Holder(workload, workload.charged.nonzero()))
        else:
            self._hold(Holder(workload, self.book.holding(workload)))

    def _detach(self, workload: Workload) -> None:
        name = workload.queue
        if name not in self.specs:
            del self._orphans[workload.id]
        elif not workload.admitted:
            self.pending[name].remove(workload)
            self.nominated[name].pop(workload.id, None)
        else:
            self._release(self.admitted[name][workload.id])

    def _hold(self, holder: Holder) -> None:
        w = holder.workload
        self.admitted[w.queue][w.id] = holder
        self.book.charge(w.queue, holder.amounts)
        if w.evicting:
            key = self.book.cohort_of(w.queue)
            self.evicting[key] = self.evicting.get(key, 0) + 1
        else:
            self.floors[w.queue][w.priority] += 1

    def _release(self, holder: Holder) -> None:
        w = holder.workload
        del self.admitted[w.queue][w.id]
        self.book.charge(w.queue, holder.amounts, -1)
        if w.evicting:
            self.evicting[self.book.cohort_of(w.queue)] -= 1
        else:
            floor = self.floors[w.queue]
            floor[w.priority] -= 1
            if not floor[w.priority]:
                del floor[w.priority]
