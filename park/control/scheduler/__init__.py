"""Park's global GPU scheduler: a pure policy engine (no I/O, no clock) in the spirit of Kueue.

The controller snapshots queues and workloads each cycle and acts on the decisions: Admit starts a
workload (it holds `Admit.charged`), Preempt suspends one (it checkpoints, ends Preempted, and queues
again), Wait explains why a workload is still pending.

Two ways to drive it, same decisions (a property test holds them equal):
- `schedule(snapshot, now, config)`: one pure, deterministic cycle over a full snapshot.
- `Scheduler`: the same engine kept alive and fed deltas (`upsert`, `remove`, `set_queues`, or
  `sync(snapshot)`), which is what makes 10,000 pending workloads cheap. It assumes its own decisions
  until told otherwise.

What the controller mirrors back into the workloads it passes in: `admitted_at` and `charged` from
Admit; `evicting=True` on Preempt.victim until it is gone; `nominated=True` on Preempt.by until it is
admitted; and, when a preempted workload queues again, its old `queued_at` (so it keeps its place
and the aging it earned).
"""

from park.control.scheduler.cycle import Scheduler, schedule, usage_report
from park.control.scheduler.decisions import Admit, Decision, Preempt, Wait
from park.control.scheduler.flavors import FlavorName, FlavorQuota
from park.control.scheduler.model import (
    BorrowWithinCohort,
    CohortName,
    PolicyConfig,
    PreemptionPolicy,
    PriorityClass,
    QueueingStrategy,
    QueueName,
    QueueSpec,
    ReclaimWithinCohort,
    Snapshot,
    WithinQueue,
    Workload,
    WorkloadId,
    WorkloadKind,
    resolve_priority,
)
from park.control.scheduler.report import PendingEntry, QueueUsage, SchedulerReport
from park.control.scheduler.resources import Resources

__all__ = [
    "Admit",
    "BorrowWithinCohort",
    "CohortName",
    "Decision",
    "FlavorName",
    "FlavorQuota",
    "PendingEntry",
    "PolicyConfig",
    "Preempt",
    "PreemptionPolicy",
    "PriorityClass",
    "QueueName",
    "QueueSpec",
    "QueueUsage",
    "QueueingStrategy",
    "ReclaimWithinCohort",
    "Resources",
    "Scheduler",
    "SchedulerReport",
    "Snapshot",
    "Wait",
    "WithinQueue",
    "Workload",
    "WorkloadId",
    "WorkloadKind",
    "resolve_priority",
    "schedule",
    "usage_report",
]
