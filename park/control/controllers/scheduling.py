"""The scheduler loop: one engine cycle whenever jobs, services, clusters, queues or priority classes change,
and between changes when time alone could change a decision (`next_wait`).

It only writes admissions (of jobs, services and clusters that name a queue, each charged what it runs:
`park.control.costs`) and queue status with the queue's in-use finalizer (`queues.QueueKeeper`); starting
and preempting are the controllers' business.
While running it reads from an informer cache (`InformerCache`) fed by the watch stream and by its own
writes, so a cycle costs the engine's work and the writes it decides, not a list of every object.
One object it cannot schedule (unreadable, refused by the engine, naming a priority class that does not
exist) is told so on the object (`ObjectProblems`) and left out; the cycle goes on for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from park.control.controllers.admission import (
    class_values,
    cluster_id,
    priority_class_problem,
    snapshot_of,
    workload_id,
)
from park.control.controllers.informer import InformerCache, SharedInformer, version
from park.control.controllers.problems import ObjectProblems
from park.control.controllers.queues import QueueKeeper, user_units
from park.control.controllers.service_grants import ServiceGrants
from park.control.costs import CostMemo, Layout
from park.control.metrics import ADMISSION_WAIT_SECONDS, PREEMPTIONS
from park.control.scheduler import (
    Admit,
    Decision,
    PolicyConfig,
    Preempt,
    Scheduler,
    Snapshot,
    Wait,
    WorkloadId,
)
from park.control.scheduler.reasons import without_place
from park.control.store import Store
from park.control.store.interface import EventType, InvalidObject
from park.core.clock import Clock
from park.core.errors import ConflictError, GoneError, NotFoundError, ParkError
from park.core.flavors import ParkResourceFlavor
from park.core.resources import (
    TERMINAL_JOB_PHASES,
    Admission,
    AnyResource,
    ParkCluster,
    ParkJob,
    ParkPriorityClass,
    ParkQueue,
    ParkService,
    ResourceKey,
)

logger = logging.getLogger(__name__)
WRITERS = 8
"""How many of a cycle's decisions are written at once (objects apart; one object's in order)."""
WATCHED = frozenset(
    {"ParkJob", "ParkQueue", "ParkPriorityClass", "ParkService", "ParkCluster", "ParkResourceFlavor"}
)
Admissible = ParkJob | ParkCluster
"""What the scheduler writes `status.admission` on: jobs and clusters (services get `ServiceGrants`)."""


class SchedulerLoop:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        config: PolicyConfig,
        interval: float = 1.0,
        idle_interval: float = 10.0,
        debounce: float = 0.1,
        cache: InformerCache | None = None,
        informer: SharedInformer | None = None,
        layout: Layout = Layout.SHARED_HEAD,
    ) -> None:
        """Cycles follow changes; between changes only time can change a decision (`next_wait`), so the
        loop wakes when a minimum runtime runs out (at least `interval` apart) and otherwise every
        `idle_interval` (aging and starvation move slowly). `debounce`: after a change, wait this long for
        more before cycling, so a burst of changes costs one cycle. `cache`: read the watched kinds from it
        instead of listing them each cycle (`run` makes one, syncs it and keeps it current; a caller of
        `cycle_once` keeps its own current). `informer`: one shared with other controllers, which `run`
        follows instead of watching on its own (it must inform of the watched kinds). `layout`: where Ray
        runs, which decides what each object costs (`park.control.costs`): a shared head under `park up`,
        clusters of their own on KubeRay."""
        self._store = store
        self._layout = layout
        self._costs = CostMemo()
        self._clock = clock
        self._config = config
        self._interval = interval
        self._idle_interval = idle_interval
        self._wait = interval
        self._debounce = debounce
        self._wake = asyncio.Event()
        self._cache = informer.cache if informer is not None else cache
        self._informer = informer
        self._problems = ObjectProblems(store=store, clock=clock, written=self._remember)
        self._writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="park-scheduler-write")
        self._flavors: dict[str, ParkResourceFlavor] = {}

    async def run(self) -> None:
        """Cycle on every change and every `interval` until cancelled; a failed watch fails the loop."""
        if self._informer is not None:
            self._informer.add_listener(lambda _: self._wake.set())
            await self._informer.synced.wait()
            await self._cycles()
            return
        cache = self._cache = self._cache or InformerCache(self._store, WATCHED)
        since = await asyncio.to_thread(cache.sync)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch(cache, since))
            group.create_task(self._cycles())

    async def _cycles(self) -> None:
        while True:
            await asyncio.to_thread(self.cycle_once)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._wait)
                await asyncio.sleep(self._debounce)
            self._wake.clear()

    async def _watch(self, cache: InformerCache, since: int) -> None:
        while True:
            try:
                async for event in self._store.watch(since=since, kinds=WATCHED):
                    since = event.resource_version
                    cache.apply(event)
                    self._wake.set()
            except GoneError:
                logger.warning("the scheduler's watch fell behind the store's history; listing again")
            except (ParkError, OSError) as exc:
                logger.warning("the scheduler's watch broke (%s); listing again in 1s", exc)
                await asyncio.sleep(1.0)
            since = await asyncio.to_thread(cache.sync)  # a list, as an informer does after any break
            self._wake.set()

    def _listed(self) -> tuple[dict[str, list[AnyResource]], list[InvalidObject]]:
        """Every watched object by kind, and what could not be decoded (from the cache when running)."""
        if self._cache is not None:
            return {kind: self._cache.list(kind) for kind in WATCHED}, self._cache.invalid()
        listings = {kind: self._store.list(kind) for kind in WATCHED}
        invalid = [obj for listing in listings.values() for obj in listing.invalid]
        return {kind: listing.items for kind, listing in listings.items()}, invalid

    def _remember(self, obj: AnyResource) -> None:
        if self._cache is not None:
            self._cache.remember(obj)

    def cycle_once(self) -> list[Decision]:
        now = self._clock.now()
        listed, invalid = self._listed()
        self._problems.invalid(invalid)
        queues = [q for q in listed["ParkQueue"] if isinstance(q, ParkQueue)]
        classes = [c for c in listed["ParkPriorityClass"] if isinstance(c, ParkPriorityClass)]
        values = class_values(classes)
        jobs = self._problems.admissible([j for j in listed["ParkJob"] if isinstance(j, ParkJob)], values)
        services = self._problems.admissible(
            [s for s in listed["ParkService"] if isinstance(s, ParkService)], values
        )
        clusters = [c for c in listed["ParkCluster"] if isinstance(c, ParkCluster)]
        flavors = [f for f in listed["ParkResourceFlavor"] if isinstance(f, ParkResourceFlavor)]
        self._flavors = {flavor.metadata.name: flavor for flavor in flavors}
        left_out: set[ResourceKey] = set()

        def refuse(obj: AnyResource, problem: str) -> None:
            left_out.add(obj.key)
            self._problems.refused(obj, problem)

        snapshot = snapshot_of(
            queues, jobs, classes, now.timestamp(), services,
            clusters=clusters, layout=self._layout, memo=self._costs, refused=refuse, flavors=flavors,
        )  # fmt: skip
        self._costs.next_cycle()
        self._wait = next_wait(snapshot, self._config, now.timestamp(), self._interval, self._idle_interval)
        engine = Scheduler.from_snapshot(snapshot, self._config)
        decisions = engine.cycle(now.timestamp(), explain_all=True)
        report = engine.report(now.timestamp())
        keeper = QueueKeeper(self._store, queues, written=self._remember)
        unprotected = keeper.protect(usage.name for usage in report.queues if usage.admitted)
        by_id: dict[WorkloadId, Admissible] = {workload_id(job): job for job in jobs}
        by_id.update({cluster_id(cluster): cluster for cluster in clusters})
        waiting = [s for s in services if s.key not in left_out and not priority_class_problem(s, values)]
        grants = ServiceGrants(
            self._store,
            waiting,
            whole=self._layout is Layout.OWN_CLUSTER,
            written=self._remember,
            flavors=self._flavors,
        )
        writes: dict[ResourceKey, tuple[Admissible, list[Decision]]] = {}
        for decision in decisions:
            if isinstance(decision, Admit) and decision.queue in unprotected:
                continue  # its queue may be gone: admitted next cycle, once the queue is protected
            if grants.take(decision):
                continue
            obj = by_id.get(decision.victim if isinstance(decision, Preempt) else decision.workload)
            if obj is not None:
                writes.setdefault(obj.key, (obj, []))[1].append(decision)

        def write(obj: Admissible, its: list[Decision]) -> None:
            for decision in its:
                self._apply(obj, decision, by_id)

        # One object's decisions in order; different objects' at once (each write is an HTTP call on
        # Kubernetes: one at a time, 1,000 admissions took 50 s on an API server that takes 170 writes/s).
        list(self._writers.map(lambda item: write(*item), writes.values()))
        grants.write(now)
        keeper.settle(report, now)
        return decisions

    def _apply(self, obj: Admissible, decision: Decision, by_id: dict[WorkloadId, Admissible]) -> None:
        now = self._clock.now()
        current = obj.status.admission
        match decision:
            case Admit(reason=reason, queue=queue, charged=charged, flavor=flavor):
                admission = placed(
                    Admission(
                        admitted=True,
                        queue=queue,
                        admitted_at=now,
                        message=reason,
                        resources=user_units(charged),
                        flavor=flavor,
                    ),
                    self._flavors.get(flavor or ""),
                )
                waited = (now - (obj.metadata.creation_timestamp or now)).total_seconds()
                ADMISSION_WAIT_SECONDS.labels(queue=queue).observe(max(waited, 0.0))
                self._write(obj, admission, "Normal", "Admitted", reason)
            case Preempt(reason=reason, by=by):
                if current is not None and current.admitted:
                    PREEMPTIONS.labels(queue=obj.spec.queue or "").inc()
                    # The flavor stays: the victim holds that flavor's quota until it is gone.
                    lost = Admission(
                        admitted=False, queue=obj.spec.queue, message=reason, flavor=current.flavor
                    )
                    self._write(obj, lost, "Warning", "Evicted", reason)
                self._nominate(by_id.get(by))
            case Wait(reason=reason, position=position, queue=queue):
                if current is not None and current.admitted:
                    return  # admitted workloads are never told to wait
                nominated = current is not None and current.nominated
                admission = Admission(
                    admitted=False, queue=queue, position=position, message=reason, nominated=nominated
                )
                if needs_write(current, admission):
                    self._write(obj, admission, None, "", "")

    def _nominate(self, obj: Admissible | None) -> None:
        """The preemptor goes first once its victims are gone (the engine's `nominated`)."""
        if obj is None:
            return
        current = obj.status.admission or Admission(queue=obj.spec.queue)
        if not current.admitted and not current.nominated:
            note = "waiting for the workloads it preempted to stop"
            self._write(obj, current.model_copy(update={"nominated": True, "message": note}), None, "", "")

    def _write(
        self, obj: Admissible, admission: Admission, event_type: EventType | None, reason: str, message: str
    ) -> None:
        updated = self._write_admission(obj, admission)
        if updated is not None and event_type is not None:
            self._store.record_event(updated, type=event_type, reason=reason, message=message)
            logger.info("%s: %s: %s", updated.key, reason, message)

    def _write_admission(self, obj: Admissible, admission: Admission) -> Admissible | None:
        """Write the decision; on a 409, again onto the newer object if that did not change it itself
        (`_moved`): the job controller or the operator wrote other fields meanwhile.

        Without the retry a busy control plane turns many of a cycle's decisions into conflicts, each
        costing another cycle. With the cache running, the newer object is the cache's (no extra read):
        when the watch has not brought it yet, the write waits for the next cycle.
        """
        for _ in range(3):
            try:
                updated = self._store.update_status(
                    obj.model_copy(update={"status": obj.status.model_copy(update={"admission": admission})})
                )
            except NotFoundError:
                return None
            except ConflictError:
                fresh = self._newer(obj)
                if fresh is None or _moved(obj, fresh):
                    return None
                obj = fresh
                continue
            assert isinstance(updated, ParkJob | ParkCluster)
            self._remember(updated)
            return updated
        return None

    def _newer(self, obj: Admissible) -> Admissible | None:
        if self._cache is not None:
            cached = self._cache.get(obj.key)
            return cached if isinstance(cached, type(obj)) and version(cached) > version(obj) else None
        try:
            fresh = self._store.get(obj.kind, obj.metadata.namespace, obj.metadata.name)
        except NotFoundError:
            return None
        return fresh if isinstance(fresh, type(obj)) else None


def placed(admission: Admission, flavor: ParkResourceFlavor | None) -> Admission:
    """The admission with the flavor it is on and where that flavor's pods go, as the flavor says now
    (Kueue copies a flavor's nodeLabels and tolerations into the admission the same way)."""
    if flavor is None:
        return admission
    spec = flavor.spec
    return admission.model_copy(
        update={
            "node_selector": dict(spec.node_labels),
            "tolerations": list(spec.tolerations),
        }
    )


def next_wait(
    snapshot: Snapshot, config: PolicyConfig, now: float, interval: float, idle_interval: float
) -> float:
    """Seconds until time alone could change a decision of this snapshot, within [interval, idle_interval].

    With work waiting, the soonest is an admitted workload's minimum runtime running out (it becomes a
    preemption candidate); aging and starvation change slowly, so `idle_interval` covers them.
    """
    if all(w.admitted_at is not None for w in snapshot.workloads):
        return idle_interval
    protection_ends = [
        w.admitted_at + config.min_runtime_s - now
        for w in snapshot.workloads
        if w.admitted_at is not None and w.preemptible and now - w.admitted_at < config.min_runtime_s
    ]
    soonest = min(protection_ends, default=idle_interval)
    return max(interval, min(soonest, idle_interval))


EXACT_PLACES = 10
"""A waiting job's place in line is kept exact this far from the head; further back, see `needs_write`."""


def needs_write(current: Admission | None, waiting: Admission) -> bool:
    """Whether a waiting job's stored admission should become `waiting`.

    Always when anything but its place in line changed. A place further back than EXACT_PLACES is
    rewritten only once it moved by a tenth: jobs created in the same second share a queue time, so a
    burst of them reshuffles the places of everyone behind on every cycle, and each rewrite costs a
    write and a reconcile by every watcher (on Kubernetes, the operator's). The head of the line stays
    exact; a job 212th may read 212th until it is 190th.
    """
    if current is None:
        return True
    if current == waiting:
        return False
    before, after = current.position, waiting.position
    same_otherwise = current.model_copy(update={"position": after, "message": waiting.message}) == waiting
    if not same_otherwise or before is None or after is None:
        return True
    if without_place(current.message or "") != without_place(waiting.message or ""):
        return True
    return min(before, after) <= EXACT_PLACES or abs(after - before) * 10 >= before


def _moved(seen: Admissible, now: Admissible) -> bool:
    """Whether the object changed in a way the decision depended on: its spec, its admission, or it ended.

    Other phase changes (Pending → Queued, Preempting → Preempted) are the job controller catching up
    with an earlier decision and do not change what this one should be.
    """
    ended = now.status.phase != seen.status.phase and now.status.phase in TERMINAL_JOB_PHASES
    return (
        ended
        or now.metadata.generation != seen.metadata.generation
        or now.status.admission != seen.status.admission
    )
