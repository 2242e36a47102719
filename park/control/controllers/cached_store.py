"""A `Store` whose reads of the informed kinds come from a shared informer's cache; writes go through.

Controllers read the object a watch event named far more often than they write it (a running job is
looked at every poll), and on Kubernetes each read was an HTTP GET and a parse. Here `get` and `list`
of a cached kind answer from memory; what this process writes is remembered at once, so its next read
is never older than its own write. An object the listed cache does not hold is not there (NotFound,
without asking: a job naming a ParkCluster that does not exist asked the API server 17,000 times in one
bench run), except one Park's model refuses, which the store is asked for so it names the problem; before
the first list every read goes to the store.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable

from park.control.controllers.informer import InformerCache
from park.control.store import Store
from park.control.store.interface import EventType, InvalidObject, ListResult, ObjectEvent, WatchEvent
from park.control.store.selectors import LabelSelector
from park.core.errors import NotFoundError
from park.core.kinds import kind_info
from park.core.resources import AnyResource, ResourceKey


class CachedStore:
    def __init__(self, store: Store, cache: InformerCache) -> None:
        self._store = store
        self._cache = cache

    def get(self, kind: str, namespace: str | None, name: str) -> AnyResource:
        if kind in self._cache.kinds:
            where = (namespace or "default") if kind_info(kind).namespaced else None
            key = ResourceKey(kind, where, name)
            found = self._cache.get(key)
            if found is not None:
                return found
            if self._cache.synced and all(bad.key != key for bad in self._cache.invalid()):
                raise NotFoundError(f"{key} not found")
        return self._remember(self._store.get(kind, namespace, name))

    def list(
        self, kind: str, *, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> ListResult:
        if kind not in self._cache.kinds:
            return self._store.list(kind, namespace=namespace, selector=selector)
        items = [
            obj
            for obj in self._cache.list(kind)
            if (namespace is None or obj.metadata.namespace == namespace)
            and (selector is None or selector.matches(obj.metadata.labels))
        ]
        invalid = [obj for obj in self._cache.invalid() if obj.kind == kind]
        # No position to watch from: the informer is the one watching.
        return ListResult(items=items, resource_version=0, invalid=invalid)

    def create(self, obj: AnyResource) -> AnyResource:
        return self._remember(self._store.create(obj))

    def update(self, obj: AnyResource) -> AnyResource:
        return self._remember(self._store.update(obj))

    def update_status(self, obj: AnyResource) -> AnyResource:
        return self._remember(self._store.update_status(obj))

    def delete(
        self, kind: str, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> AnyResource | InvalidObject:
        return self._store.delete(kind, namespace, name, resource_version=resource_version)

    def current_resource_version(self) -> int:
        return self._store.current_resource_version()

    def changes_since(
        self, resource_version: int, *, kinds: frozenset[str] | None = None, limit: int = 1000
    ) -> builtins.list[WatchEvent]:
        return self._store.changes_since(resource_version, kinds=kinds, limit=limit)

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        return self._store.subscribe(callback)

    def watch(self, *, since: int, kinds: frozenset[str] | None = None) -> AsyncIterator[WatchEvent]:
        return self._store.watch(since=since, kinds=kinds)

    def record_event(
        self, obj: AnyResource | InvalidObject, *, type: EventType, reason: str, message: str
    ) -> None:
        self._store.record_event(obj, type=type, reason=reason, message=message)

    def list_events(
        self, *, kind: str | None = None, namespace: str | None = None, name: str | None = None
    ) -> builtins.list[ObjectEvent]:
        return self._store.list_events(kind=kind, namespace=namespace, name=name)

    def close(self) -> None:
        self._store.close()

    def _remember(self, obj: AnyResource) -> AnyResource:
        self._cache.remember(obj)
        return obj
