"""Per-queue usage and the ordered pending list with reasons (what `GET /v1/queues/{name}/pending` shows).

A cycle only examines queue heads (and one head per group of equal demand); every other pending
workload gets its reason from the head that held it back, so the report is complete without making a
cycle pay for 10,000 explanations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from park.control.scheduler import reasons
from park.control.scheduler.decisions import Wait
from park.control.scheduler.model import CohortName, PolicyConfig, QueueName, Workload, WorkloadId
from park.control.scheduler.ordering import GroupKey, effective_priority, group_key
from park.control.scheduler.resources import Resources
from park.control.scheduler.state import ClusterState


@dataclass(frozen=True)
class QueueUsage:
    name: QueueName
    cohort: CohortName | None
    nominal: Resources
    used: Resources
    borrowed: Resources
    admitted: int
    pending: int
    share: float
    """Weighted dominant resource share of borrowed capacity (0 while within nominal quota)."""
    inactive: str | None = None
    """Why it admits nothing new although it exists (`QueueSpec.inactive`)."""


@dataclass(frozen=True)
class PendingEntry:
    workload: WorkloadId
    position: int
    priority: int
    effective_priority: float
    waiting_s: float
    reason: str


@dataclass(frozen=True)
class SchedulerReport:
    at: float
    queues: tuple[QueueUsage, ...]
    pending: Mapping[QueueName, tuple[PendingEntry, ...]]

    def queue(self, name: str) -> QueueUsage:
        for usage in self.queues:
            if usage.name == name:
                return usage
        raise KeyError(name)


@dataclass
class CycleNotes:
    """What the last cycle learned about the workloads it could not admit."""

    notes: dict[WorkloadId, str] = field(default_factory=dict)
    """Reason for each examined workload, without its position (positions move; reasons hold)."""
    blockers: dict[tuple[QueueName, GroupKey | None], WorkloadId] = field(default_factory=dict)
    """(queue, None): the StrictFIFO head that blocked the queue; (queue, group): a group's head."""

    def clear(self) -> None:
        self.notes.clear()
        self.blockers.clear()

    def reason_for(self, workload: Workload, known_queue: bool) -> str:
        if not known_queue:
            return f"waiting: queue {workload.queue} does not exist"
        note = self.notes.get(workload.id)
        if note is not None:
            return note
        head = self.blockers.get((workload.queue, None))
        if head is not None:
            return reasons.behind_strict_head(head)
        head = self.blockers.get((workload.queue, group_key(workload)))
        if head is not None:
            return reasons.same_as(head, self.notes.get(head, ""))
        return "waiting: not considered by a scheduling cycle yet"


def explain_rest(state: ClusterState, notes: CycleNotes, now: float, config: PolicyConfig) -> list[Wait]:
    """A Wait for every pending workload the cycle did not already explain, in queue order."""
    waits = []
    for name in sorted(state.pending):
        for position, workload in enumerate(state.pending[name].ordered(now, config), start=1):
            if workload.id not in notes.notes:
                reason = reasons.in_line(notes.reason_for(workload, known_queue=True), position)
                waits.append(Wait(workload.id, reason, position, name))
    return waits


def build_report(state: ClusterState, notes: CycleNotes, now: float, config: PolicyConfig) -> SchedulerReport:
    usage = tuple(_usage(state, name) for name in sorted(state.specs))
    pending = {name: _pending(state, notes, name, now, config) for name in sorted(state.specs)}
    for orphan in state.orphans():
        entries = pending.get(orphan.queue, ())
        pending[orphan.queue] = (*entries, _entry(orphan, len(entries) + 1, notes, now, config, False))
    return SchedulerReport(at=now, queues=usage, pending=pending)


def _usage(state: ClusterState, name: QueueName) -> QueueUsage:
    book = state.book
    return QueueUsage(
        name=name,
        cohort=state.specs[name].cohort,
        nominal=book.nominal(name),
        used=book.used(name),
        borrowed=book.borrowed(name),
        admitted=len(state.admitted[name]),
        pending=len(state.pending[name]),
        share=book.share(name),
        inactive=state.specs[name].inactive,
    )


def _pending(
    state: ClusterState, notes: CycleNotes, name: QueueName, now: float, config: PolicyConfig
) -> tuple[PendingEntry, ...]:
    ordered = state.pending[name].ordered(now, config)
    return tuple(_entry(w, i, notes, now, config, True) for i, w in enumerate(ordered, start=1))


def _entry(
    workload: Workload, position: int, notes: CycleNotes, now: float, config: PolicyConfig, known: bool
) -> PendingEntry:
    return PendingEntry(
        workload=workload.id,
        position=position,
        priority=workload.priority,
        effective_priority=effective_priority(workload, now, config),
        waiting_s=max(0.0, now - workload.queue_time),
        reason=reasons.in_line(notes.reason_for(workload, known_queue=known), position),
    )
