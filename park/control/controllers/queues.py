"""ParkQueue: the status the scheduler writes, and the finalizer that keeps a queue while its work runs.

Kueue keeps a ClusterQueue that still has admitted workloads (its `resource-in-use` finalizer). Park does
the same with `park.dev/queue-in-use`, on both substrates through the Store, whose finalizer rules are
Kubernetes' own: the scheduler adds it before it writes an admission into the queue, and removes it once
nothing admitted is left. A queue deleted while in use is Terminating: what it admitted runs on and is
counted, it admits nothing new (`QueueSpec.terminating`), and it goes away when its last workload is gone.
An idle queue carries no finalizer, so it is deleted at once, with or without a scheduler running.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

from park.control.metrics import PENDING_WORKLOADS, QUEUE_USAGE
from park.control.scheduler import FlavorName, QueueUsage, Resources, SchedulerReport
from park.control.scheduler.flavors import by_flavor, totals
from park.control.store import Store
from park.core.errors import ConflictError, NotFoundError, ParkError
from park.core.meta import Condition, set_condition
from park.core.resources import (
    AnyResource,
    FlavorUsageStatus,
    ParkQueue,
    ParkQueueStatus,
    QueuePhase,
    QueueUsageStatus,
)

logger = logging.getLogger(__name__)
QUEUE_IN_USE = "park.dev/queue-in-use"
ACTIVE: Final = "Active"


def wanted_finalizers(queue: ParkQueue, *, in_use: bool) -> list[str] | None:
    """The queue's finalizers as they should be, or None when they already are.

    No finalizer is added to a queue being deleted (the API server refuses that): whatever it admitted
    was admitted while it was protected.
    """
    finalizers = queue.metadata.finalizers
    has = QUEUE_IN_USE in finalizers
    if in_use and not has and queue.metadata.deletion_timestamp is None:
        return [*finalizers, QUEUE_IN_USE]
    if not in_use and has:
        return [f for f in finalizers if f != QUEUE_IN_USE]
    return None


def queue_status(queue: ParkQueue, usage: QueueUsage, now: datetime) -> ParkQueueStatus:
    """Counts, usage and phase; `Active` False while Terminating, saying what it waits for, or while a
    flavor it names does not exist (Inactive, reason FlavorNotFound, the message naming the field)."""
    phase: QueuePhase = ACTIVE
    message: str | None = None
    condition = Condition(type=ACTIVE, status="True", reason="Ready")
    if queue.metadata.deletion_timestamp is not None:
        held = f"{usage.admitted} admitted workload" + ("s have" if usage.admitted != 1 else " has")
        phase, message = (
            "Terminating",
            f"being deleted: admits nothing new, and goes once its {held} finished",
        )
        condition = Condition(type=ACTIVE, status="False", reason="Terminating", message=message)
    elif usage.inactive is not None:
        phase, message = "Inactive", f"{usage.inactive}; until then it admits nothing new"
        condition = Condition(type=ACTIVE, status="False", reason="FlavorNotFound", message=message)
    return queue.status.model_copy(
        update={
            "phase": phase,
            "message": message,
            "conditions": set_condition(queue.status.conditions, condition, now=now),
            "pending_jobs": usage.pending,
            "admitted_jobs": usage.admitted,
            "usage": usage_status(queue, usage),
        }
    )


def usage_status(queue: ParkQueue, usage: QueueUsage) -> QueueUsageStatus:
    """Totals over all flavors (what `park get queues` shows), and each flavor the queue lists or holds."""
    _, used = by_flavor(usage.used)
    _, borrowed = by_flavor(usage.borrowed)
    names = [entry.name for entry in queue.spec.flavors]
    names += sorted(name for name in used if name not in names)
    flavors = [
        FlavorUsageStatus(
            name=name,
            used=user_units(used.get(FlavorName(name), Resources())),
            borrowed=user_units(borrowed.get(FlavorName(name), Resources())),
        )
        for name in names
    ]
    return QueueUsageStatus(
        used=user_units(totals(usage.used)), borrowed=user_units(totals(usage.borrowed)), flavors=flavors
    )


class QueueKeeper:
    """One cycle's queue writes: `protect` before admissions are written, `settle` after."""

    def __init__(
        self,
        store: Store,
        queues: Iterable[ParkQueue],
        *,
        written: Callable[[AnyResource], None] = lambda _: None,
    ) -> None:
        self._store = store
        self._queues = {queue.metadata.name: queue for queue in queues}
        self._written = written  # told every queue this writes (the scheduler's cache)

    def protect(self, in_use: Iterable[str]) -> set[str]:
        """Add the finalizer to every queue that now holds admitted work and lacks it.

        Returns the queues it could not protect (deleted or changed since the cycle read them): their new
        admissions are not written this cycle, so nothing is admitted into a queue that may vanish.
        """
        unprotected = set()
        for name in in_use:
            queue = self._queues.get(name)
            wanted = wanted_finalizers(queue, in_use=True) if queue is not None else None
            if queue is None or wanted is None:
                continue
            if not self._set_finalizers(queue, wanted):
                unprotected.add(name)
        return unprotected

    def settle(self, report: SchedulerReport, now: datetime) -> None:
        """Remove the finalizer where nothing admitted is left (a Terminating queue then goes), and write
        each remaining queue's status."""
        for name in list(self._queues):
            try:
                usage = report.queue(name)
            except KeyError:
                continue
            wanted = wanted_finalizers(self._queues[name], in_use=usage.admitted > 0)
            if wanted is not None and not self._set_finalizers(self._queues[name], wanted):
                continue
            queue = self._queues[name]
            if queue.metadata.deletion_timestamp is not None and not queue.metadata.finalizers:
                logger.info("ParkQueue %s: its admitted work is gone; deleted", name)
                continue
            _export(name, usage)
            status = queue_status(queue, usage, now)
            if status != queue.status:
                with contextlib.suppress(ConflictError, NotFoundError):
                    self._remember(self._store.update_status(queue.model_copy(update={"status": status})))

    def _set_finalizers(self, queue: ParkQueue, finalizers: list[str]) -> bool:
        metadata = queue.metadata.model_copy(update={"finalizers": finalizers})
        try:
            updated = self._store.update(queue.model_copy(update={"metadata": metadata}))
        except (ConflictError, NotFoundError) as exc:  # changed or gone meanwhile: the next cycle sees it
            logger.info("ParkQueue %s: finalizers not changed this cycle (%s)", queue.metadata.name, exc)
            return False
        except ParkError as exc:  # e.g. the operator may not update ParkQueues (operator/rbac.yaml)
            logger.warning("ParkQueue %s: cannot change its finalizers: %s", queue.metadata.name, exc)
            return False
        self._remember(updated)
        return True

    def _remember(self, updated: AnyResource) -> None:
        assert isinstance(updated, ParkQueue)
        self._queues[updated.metadata.name] = updated
        self._written(updated)


def _export(name: str, usage: QueueUsage) -> None:
    PENDING_WORKLOADS.labels(queue=name).set(usage.pending)
    for resource, amount in user_units(totals(usage.used)).items():
        QUEUE_USAGE.labels(queue=name, resource=resource).set(amount)


def user_units(resources: Resources) -> dict[str, float]:
    return {name: resources.get(name) for name, _ in resources.items() if resources.raw(name)}
