"""Runs one reconciler: lists, watches and resyncs its kind into a work queue, and drains it.

Level-triggered: a reconciler is told only *which* object to look at, never what changed, so a
missed or duplicated event cannot make it wrong; the periodic resync catches anything else.
A controller lists and watches its kind itself, or hears of changes from a `SharedInformer` that several
controllers share (the operator's case: one watch per kind for the whole process, resyncs from memory).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from park.control.controllers.informer import SharedInformer
from park.control.controllers.workqueue import QueueClosedError, WorkQueue
from park.control.metrics import RECONCILE_SECONDS, RECONCILE_TOTAL
from park.control.store import Store
from park.core.errors import GoneError, ParkError, SubstrateUnavailableError
from park.core.resources import AnyResource, ResourceKey

logger = logging.getLogger(__name__)


class Reconciler(Protocol):
    kind: str

    async def reconcile(self, key: ResourceKey) -> float | None:
        """Bring one object closer to its spec. Returns seconds until it wants another look, or None."""
        ...


class Controller:
    def __init__(
        self,
        *,
        store: Store,
        reconciler: Reconciler,
        resync_seconds: float = 30.0,
        workers: int = 2,
        informer: SharedInformer | None = None,
    ) -> None:
        self._store = store
        self._informer = informer
        self._reconciler = reconciler
        self._resync_seconds = resync_seconds
        self._workers = workers
        self.queue: WorkQueue[ResourceKey] = WorkQueue()
        self.synced = asyncio.Event()

    @property
    def kind(self) -> str:
        return self._reconciler.kind

    async def run(self) -> None:
        """Run until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._watch() if self._informer is None else self._hear(self._informer))
                group.create_task(self._resync())
                for _ in range(self._workers):
                    group.create_task(self._work())
        finally:
            self.queue.close()

    def _enqueue_all(self) -> int:
        if self._informer is not None:  # from memory: the informer lists only after a break
            for obj in self._informer.cache.list(self.kind):
                self.queue.add(obj.key)
            return 0
        listed = self._store.list(self.kind)
        for obj in listed.items:
            self.queue.add(obj.key)
        return listed.resource_version

    async def _hear(self, informer: SharedInformer) -> None:
        informer.add_listener(self._heard)
        await informer.synced.wait()
        self._enqueue_all()
        self.synced.set()

    def _heard(self, obj: AnyResource) -> None:
        if obj.kind == self.kind:
            self.queue.add(obj.key)

    async def _watch(self) -> None:
        since = self._enqueue_all()
        self.synced.set()
        while True:
            try:
                async for event in self._store.watch(since=since, kinds=frozenset({self.kind})):
                    since = event.resource_version
                    self.queue.add(event.object.key)
            except GoneError:
                logger.warning("%s watch fell behind the store's history; listing again", self.kind)
                since = self._enqueue_all()

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self._resync_seconds)
            self._enqueue_all()

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except QueueClosedError:
                return
            try:
                await self._reconcile_one(key)
            finally:
                self.queue.done(key)

    async def _reconcile_one(self, key: ResourceKey) -> None:
        started = time.perf_counter()
        result = "ok"
        try:
            after = await self._reconciler.reconcile(key)
        except SubstrateUnavailableError as exc:
            result = "unavailable"
            delay = self.queue.add_rate_limited(key)
            logger.info("%s: substrate unavailable (%s); retrying in %.1fs", key, exc, delay)
        except ParkError as exc:
            result = "error"
            delay = self.queue.add_rate_limited(key)
            logger.warning("%s: %s; retrying in %.1fs", key, exc, delay)
        except Exception:
            result = "error"
            delay = self.queue.add_rate_limited(key)
            logger.exception("%s: reconcile failed; retrying in %.1fs", key, delay)
        else:
            self.queue.forget(key)
            if after is not None:
                self.queue.add_after(key, after)
        finally:
            RECONCILE_TOTAL.labels(kind=self.kind, result=result).inc()
            RECONCILE_SECONDS.labels(kind=self.kind).observe(time.perf_counter() - started)
