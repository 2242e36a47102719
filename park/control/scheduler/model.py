"""What the scheduler reads: queues with quota and policy, workloads, priority classes, the policy knobs.

All inputs are frozen: the controller snapshots them from the store once per cycle, so the engine can
never be surprised by an object that changes under it. Times are plain seconds on one clock the caller
chooses (epoch or monotonic); the engine never reads a clock itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import NewType

from park.control.scheduler.flavors import FlavorName, FlavorQuota
from park.control.scheduler.resources import Resources

WorkloadId = NewType("WorkloadId", str)
QueueName = NewType("QueueName", str)
CohortName = NewType("CohortName", str)


class QueueingStrategy(StrEnum):
    """StrictFIFO: the head blocks its queue. BestEffortFIFO: workloads that fit may pass a blocked head."""

    STRICT_FIFO = "StrictFIFO"
    BEST_EFFORT_FIFO = "BestEffortFIFO"


class WithinQueue(StrEnum):
    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"
    LOWER_OR_NEWER_EQUAL_PRIORITY = "LowerOrNewerEqualPriority"


class ReclaimWithinCohort(StrEnum):
    """Preempting workloads of other queues that borrow, to get this queue's nominal quota back."""

    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"
    ANY = "Any"


class BorrowWithinCohort(StrEnum):
    """Preempting other queues' borrowers while this queue itself borrows (bounded by a threshold)."""

    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"


class WorkloadKind(StrEnum):
    JOB = "job"
    SERVICE = "service"
    CLUSTER = "cluster"


@dataclass(frozen=True)
class PreemptionPolicy:
    within_queue: WithinQueue = WithinQueue.NEVER
    reclaim_within_cohort: ReclaimWithinCohort = ReclaimWithinCohort.NEVER
    borrow_within_cohort: BorrowWithinCohort = BorrowWithinCohort.NEVER
    max_priority_threshold: int | None = None
    """With borrow_within_cohort: only victims at or below this priority (None: any lower priority)."""


@dataclass(frozen=True)
class QueueSpec:
    """A team's queue. Limits name only the resources they bound: a name a limit omits is unbounded.

    Its quota is either plain (`nominal` and the limits) or per flavor (`flavors`, in the order workloads
    are offered them), never both.
    """

    name: QueueName
    nominal: Resources
    cohort: CohortName | None = None
    borrowing_limit: Resources | None = None
    lending_limit: Resources | None = None
    weight: float = 1.0
    strategy: QueueingStrategy = QueueingStrategy.BEST_EFFORT_FIFO
    preemption: PreemptionPolicy = field(default_factory=PreemptionPolicy)
    terminating: bool = False
    """Deleted while it still holds admitted work: that work keeps its quota, nothing new is admitted."""
    flavors: tuple[FlavorQuota, ...] = ()
    inactive: str | None = None
    """Why the queue admits nothing new although it exists (a flavor it names does not): its admitted
    work keeps its quota, as on a terminating queue."""

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"queue {self.name}: weight must be >= 0")
        if self.flavors and (self.nominal.names() or self.borrowing_limit or self.lending_limit):
            raise ValueError(f"queue {self.name}: with flavors, set the nominal quota per flavor, not both")
        names = [f.name for f in self.flavors]
        for name in sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"queue {self.name}: flavor {name} is listed twice")

    @property
    def closed(self) -> bool:
        """It admits nothing new: being deleted, or inactive."""
        return self.terminating or self.inactive is not None


@dataclass(frozen=True)
class PriorityClass:
    name: str
    value: int


def resolve_priority(classes: Iterable[PriorityClass], name: str | None, default: int = 0) -> int:
    """The base priority a workload carries: its class's value, or `default` for no or unknown class."""
    by_name: Mapping[str, int] = {pc.name: pc.value for pc in classes}
    return by_name.get(name, default) if name is not None else default


@dataclass(frozen=True)
class Workload:
    """A gang: `pods` copies of `per_pod`, admitted whole or not at all.

    A service that scales up places each extra step of replicas as its own workload of kind service,
    with `group` naming the service, so trimming a service is preempting some of its workloads.
    """

    id: WorkloadId
    queue: QueueName
    per_pod: Resources
    created_at: float
    pods: int = 1
    priority: int = 0
    kind: WorkloadKind = WorkloadKind.JOB
    queued_at: float | None = None
    """When it (re)entered the queue; None means created_at. Orders FIFO and drives aging."""
    admitted_at: float | None = None
    charged: Resources | None = None
    """What an admitted workload holds (Admit.charged: the gpu flavor chosen); None means its demand."""
    last_checkpoint_at: float | None = None
    preemptible: bool = True
    evicting: bool = False
    """Preemption or suspension is in flight: it still holds its capacity until it is gone.
    The controller sets it on Preempt.victim and keeps it until the workload has left."""
    nominated: bool = False
    """It preempted others and waits for the room they free (Kubernetes' nominated pod): it goes first
    in its cohort until admitted. The controller sets it on Preempt.by and clears it on Admit."""
    group: str | None = None
    flavor: FlavorName | None = None
    """Admitted: the flavor it holds (the controller mirrors `status.admission.flavor`). Pending: the only
    flavor it may be admitted to (a service's further replicas go where its first ones run)."""

    def __post_init__(self) -> None:
        if self.pods < 1:
            raise ValueError(f"workload {self.id}: pods must be >= 1")
        if self.evicting and self.admitted_at is None:
            raise ValueError(f"workload {self.id}: only an admitted workload can be evicting")
        if self.nominated and self.admitted_at is not None:
            raise ValueError(f"workload {self.id}: only a pending workload can be nominated")

    @property
    def admitted(self) -> bool:
        return self.admitted_at is not None

    @property
    def queue_time(self) -> float:
        return self.created_at if self.queued_at is None else self.queued_at

    @cached_property
    def demand(self) -> Resources:
        return self.per_pod.times(self.pods)

    @property
    def holding(self) -> Resources:
        """What this workload takes from quota while admitted."""
        return self.charged if self.charged is not None else self.demand


@dataclass(frozen=True)
class PolicyConfig:
    """Knobs that apply to every queue; see DESIGN notes in `cycle.py` for how they interact."""

    aging_interval_s: float | None = 300.0
    """Effective priority grows by 1 per interval waited (continuously); None turns aging off."""
    aging_cap: float = 20.0
    starvation_after_s: float | None = 3600.0
    """A workload waiting this long that does not fit holds capacity for itself: no one may backfill it."""
    min_runtime_s: float = 600.0
    """An admitted workload cannot be preempted before it ran this long."""
    checkpoint_bucket_s: float = 60.0
    """Victims whose unsaved work falls in the same bucket count as equally cheap to preempt."""
    fair_sharing: bool = True
    """Order competing queues of a cohort by weighted dominant share; off: non-borrowers first."""


@dataclass(frozen=True)
class Snapshot:
    """Everything one cycle decides on: the queues and every pending or admitted workload."""

    queues: tuple[QueueSpec, ...]
    workloads: tuple[Workload, ...]
