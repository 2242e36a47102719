"""An informer's cache: every object of some kinds, listed once and then kept current from the watch stream.

The scheduler decides on all jobs, queues, services and priority classes every cycle; listing them all
from the store each time is what made a busy control plane slow (on Kubernetes, an HTTP list and a parse
of every object per cycle). With the cache a cycle reads memory. Like client-go's informer it lists each
kind (remembering the list's resourceVersion), follows the watch from the oldest of those versions while
skipping, per kind, what its own list already showed, and lists again when the store answers 410 Gone.

The owner's own writes go in at once (`remember`): a cycle that ran before the watch delivered them
would otherwise decide again on what it had already decided (admit a job twice, count freed quota twice).
Any object is replaced only by a newer resourceVersion, so a late watch event never rolls a write back,
and a deleted object's tombstone keeps a write that raced with the deletion from bringing it back.
What a list could not decode is kept apart (`invalid`) for the owner to report; the watch skips it.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import threading
from collections.abc import Callable

from park.control.store import Store
from park.control.store.interface import InvalidObject, WatchEvent
from park.core.errors import GoneError, ParkError
from park.core.resources import AnyResource, ResourceKey

logger = logging.getLogger(__name__)


def version(obj: AnyResource) -> int:
    return int(obj.metadata.resource_version or 0)


class InformerCache:
    """Thread-safe: events are applied on the event loop while a cycle reads from a worker thread."""

    def __init__(self, store: Store, kinds: frozenset[str]) -> None:
        self._store = store
        self.kinds = kinds
        self._objects: dict[str, dict[ResourceKey, AnyResource]] = {kind: {} for kind in kinds}
        self._listed_at: dict[str, int] = {}
        self._deleted: dict[ResourceKey, int] = {}  # tombstones since the last list
        self._invalid: list[InvalidObject] = []  # what the last list could not decode
        self._lock = threading.Lock()
        self.synced = False
        """Listed at least once: an object it does not hold is not there (or cannot be read: `invalid`)."""

    def sync(self) -> int:
        """List every kind afresh; returns the resourceVersion to watch from."""
        objects: dict[str, dict[ResourceKey, AnyResource]] = {}
        listed_at: dict[str, int] = {}
        invalid: list[InvalidObject] = []
        for kind in sorted(self.kinds):
            listing = self._store.list(kind)
            objects[kind] = {obj.key: obj for obj in listing.items}
            listed_at[kind] = listing.resource_version
            invalid += listing.invalid
        with self._lock:
            self._objects, self._listed_at, self._deleted, self._invalid = objects, listed_at, {}, invalid
        self.synced = True
        return min(listed_at.values(), default=0)

    def apply(self, event: WatchEvent) -> None:
        obj = event.object
        if obj.kind not in self.kinds or event.resource_version <= self._listed_at.get(obj.kind, 0):
            return  # that kind's list already showed this change
        with self._lock:
            known = self._objects[obj.kind]
            if event.type == "DELETED":
                known.pop(obj.key, None)
                self._deleted[obj.key] = max(event.resource_version, self._deleted.get(obj.key, 0))
            else:
                self._put(known, obj)

    def remember(self, obj: AnyResource) -> None:
        """An object this process just wrote (or read fresh): newer than what the watch has said so far."""
        if obj.kind in self.kinds:
            with self._lock:
                self._put(self._objects[obj.kind], obj)

    def get(self, key: ResourceKey) -> AnyResource | None:
        with self._lock:
            return self._objects.get(key.kind, {}).get(key)

    def list(self, kind: str) -> list[AnyResource]:
        with self._lock:
            return list(self._objects[kind].values())

    def invalid(self) -> builtins.list[InvalidObject]:
        """What the last list found but could not decode, every kind together."""
        with self._lock:
            return list(self._invalid)

    def _put(self, known: dict[ResourceKey, AnyResource], obj: AnyResource) -> None:
        if version(obj) <= self._deleted.get(obj.key, 0):
            return  # a write from before the object's deletion
        current = known.get(obj.key)
        if current is None or version(obj) > version(current):
            known[obj.key] = obj


Listener = Callable[[AnyResource], None]


class SharedInformer:
    """One list and one watch of some kinds for every controller of a process (client-go's shared
    informer): the cache answers their reads, and each listener hears which object changed. On Kubernetes
    this is what keeps an idle operator idle: no controller lists, re-GETs or watches on its own.
    After a break (410 Gone, a lost connection) it lists again and tells the listeners of every object,
    as a resync would: a change it missed meanwhile is then seen."""

    def __init__(self, store: Store, kinds: frozenset[str]) -> None:
        self._store = store
        self.cache = InformerCache(store, kinds)
        self._listeners: list[Listener] = []
        self.synced = asyncio.Event()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def run(self) -> None:
        """Until cancelled."""
        since = await asyncio.to_thread(self.cache.sync)
        self._tell_all()
        self.synced.set()
        while True:
            try:
                async for event in self._store.watch(since=since, kinds=self.cache.kinds):
                    since = event.resource_version
                    self.cache.apply(event)
                    self._tell(event.object)
            except GoneError:
                logger.warning("the shared watch fell behind the store's history; listing again")
            except (ParkError, OSError) as exc:
                logger.warning("the shared watch broke (%s); listing again in 1s", exc)
                await asyncio.sleep(1.0)
            since = await asyncio.to_thread(self.cache.sync)
            self._tell_all()

    def _tell_all(self) -> None:
        for kind in self.cache.kinds:
            for obj in self.cache.list(kind):
                self._tell(obj)

    def _tell(self, obj: AnyResource) -> None:
        for listener in self._listeners:
            listener(obj)
