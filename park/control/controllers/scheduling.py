"""The scheduler loop: one engine cycle whenever jobs, queues or priority classes change (and every second).

It only writes admissions and queue status; starting and preempting are the job controller's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from park.control.controllers.admission import snapshot_of, workload_id
from park.control.controllers.service_grants import ServiceGrants
from park.control.metrics import ADMISSION_WAIT_SECONDS, PENDING_WORKLOADS, PREEMPTIONS, QUEUE_USAGE
from park.control.scheduler import (
    Admit,
    Decision,
    PolicyConfig,
    Preempt,
    Resources,
    Scheduler,
    SchedulerReport,
    Wait,
    WorkloadId,
)
from park.control.store import Store
from park.control.store.interface import EventType
from park.core.clock import Clock
from park.core.errors import ConflictError, NotFoundError
from park.core.resources import Admission, ParkJob, ParkPriorityClass, ParkQueue, ParkService

logger = logging.getLogger(__name__)
WATCHED = frozenset({"ParkJob", "ParkQueue", "ParkPriorityClass", "ParkService"})


class SchedulerLoop:
    def __init__(self, *, store: Store, clock: Clock, config: PolicyConfig, interval: float = 1.0) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._interval = interval
        self._wake = asyncio.Event()

    async def run(self) -> None:
        watcher = asyncio.create_task(self._watch())
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._interval)
                self._wake.clear()
                await asyncio.to_thread(self.cycle_once)
        finally:
            watcher.cancel()

    async def _watch(self) -> None:
        async for _ in self._store.watch(since=self._store.current_resource_version(), kinds=WATCHED):
            self._wake.set()

    def cycle_once(self) -> list[Decision]:
        now = self._clock.now()
        jobs = [j for j in self._store.list("ParkJob").items if isinstance(j, ParkJob)]
        queues = [q for q in self._store.list("ParkQueue").items if isinstance(q, ParkQueue)]
        classes = [c for c in self._store.list("ParkPriorityClass").items if isinstance(c, ParkPriorityClass)]
        services = [s for s in self._store.list("ParkService").items if isinstance(s, ParkService)]
        snapshot = snapshot_of(queues, jobs, classes, now.timestamp(), services)
        engine = Scheduler.from_snapshot(snapshot, self._config)
        decisions = engine.cycle(now.timestamp(), explain_all=True)
        by_id = {workload_id(job): job for job in jobs}
        grants = ServiceGrants(self._store, services)
        for decision in decisions:
            if grants.take(decision):
                continue
            job = by_id.get(decision.victim if isinstance(decision, Preempt) else decision.workload)
            if job is not None:
                self._apply(job, decision, by_id)
        grants.write(now)
        self._write_queue_status(queues, engine.report(now.timestamp()))
        return decisions

    def _apply(self, job: ParkJob, decision: Decision, by_id: dict[WorkloadId, ParkJob]) -> None:
        now = self._clock.now()
        current = job.status.admission
        match decision:
            case Admit(reason=reason, queue=queue, charged=charged):
                admission = Admission(
                    admitted=True,
                    queue=queue,
                    admitted_at=now,
                    message=reason,
                    resources=dict(_user_units(charged)),
                )
                waited = (now - (job.metadata.creation_timestamp or now)).total_seconds()
                ADMISSION_WAIT_SECONDS.labels(queue=queue).observe(max(waited, 0.0))
                self._write(job, admission, "Normal", "Admitted", reason)
            case Preempt(reason=reason, by=by):
                if current is not None and current.admitted:
                    PREEMPTIONS.labels(queue=job.spec.queue).inc()
                    lost = Admission(admitted=False, queue=job.spec.queue, message=reason)
                    self._write(job, lost, "Warning", "Evicted", reason)
                self._nominate(by_id.get(by))
            case Wait(reason=reason, position=position, queue=queue):
                if current is not None and current.admitted:
                    return  # admitted workloads are never told to wait
                nominated = current is not None and current.nominated
                admission = Admission(
                    admitted=False, queue=queue, position=position, message=reason, nominated=nominated
                )
                if current != admission:
                    self._write(job, admission, None, "", "")

    def _nominate(self, job: ParkJob | None) -> None:
        """The preemptor goes first once its victims are gone (the engine's `nominated`)."""
        if job is None:
            return
        current = job.status.admission or Admission(queue=job.spec.queue)
        if not current.admitted and not current.nominated:
            note = "waiting for the workloads it preempted to stop"
            self._write(job, current.model_copy(update={"nominated": True, "message": note}), None, "", "")

    def _write(
        self, job: ParkJob, admission: Admission, event_type: EventType | None, reason: str, message: str
    ) -> None:
        try:
            updated = self._store.update_status(
                job.model_copy(update={"status": job.status.model_copy(update={"admission": admission})})
            )
        except (ConflictError, NotFoundError):
            return  # the job changed meanwhile: the next cycle sees the new version
        if event_type is not None:
            self._store.record_event(updated, type=event_type, reason=reason, message=message)
            logger.info("%s: %s: %s", updated.key, reason, message)

    def _write_queue_status(self, queues: list[ParkQueue], report: SchedulerReport) -> None:
        for queue in queues:
            try:
                usage = report.queue(queue.metadata.name)
            except KeyError:
                continue
            PENDING_WORKLOADS.labels(queue=queue.metadata.name).set(usage.pending)
            for name, amount in _user_units(usage.used).items():
                QUEUE_USAGE.labels(queue=queue.metadata.name, resource=name).set(amount)
            status = queue.status.model_copy(
                update={
                    "pending_jobs": usage.pending,
                    "admitted_jobs": usage.admitted,
                    "usage": queue.status.usage.model_copy(
                        update={"used": _user_units(usage.used), "borrowed": _user_units(usage.borrowed)}
                    ),
                }
            )
            if status != queue.status:
                with contextlib.suppress(ConflictError, NotFoundError):
                    self._store.update_status(queue.model_copy(update={"status": status}))


def _user_units(resources: Resources) -> dict[str, float]:
    return {name: resources.get(name) for name, _ in resources.items() if resources.raw(name)}
