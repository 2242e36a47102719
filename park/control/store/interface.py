"""What every store does, free of any storage engine's types.

Semantics follow the Kubernetes API server, so the embedded SQLite store and the Kubernetes store
(operator mode) are interchangeable behind this interface:
- `resourceVersion` is a global, monotonically increasing counter (a string in metadata).
- `create` sets uid, creationTimestamp, generation=1 and resets status (status belongs to controllers).
- `update` writes metadata (labels, annotations, finalizers) and spec, never status; a stale
  resourceVersion raises ConflictError; `generation` bumps only when spec changed.
- `update_status` writes status only (same concurrency rule).
- `delete` of an object with finalizers only sets deletionTimestamp; the object goes away when the
  last finalizer is removed by `update`.
- every write appends a WatchEvent; `watch(since=rv)` replays what came after rv, then follows.

One object Park's model refuses (`InvalidObject`: written by kubectl before the CRD had the rule, or by
an older Park) hides only itself: `list` reports it in `ListResult.invalid`, `watch` logs and skips it,
`get` raises InvalidError naming it, and `delete` still removes it.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from park.control.store.selectors import LabelSelector
from park.core.resources import AnyResource, ResourceKey

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED"]
EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class WatchEvent:
    type: WatchEventType
    resource_version: int
    object: AnyResource


@dataclass(frozen=True)
class InvalidObject:
    """An object the store holds but Park's model refuses; `problem` names the field, in one line."""

    kind: str
    namespace: str | None
    name: str
    uid: str
    problem: str

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.key} cannot be read: {self.problem}"


@dataclass(frozen=True)
class ListResult:
    items: list[AnyResource]
    resource_version: int
    invalid: list[InvalidObject] = field(default_factory=list)
    """What the store holds but could not decode: left out of `items`, named here."""


@dataclass(frozen=True)
class ObjectEvent:
    """Like a Kubernetes Event: something that happened to one object. Repeats are counted."""

    kind: str
    namespace: str | None
    name: str
    uid: str
    type: EventType
    reason: str
    message: str
    count: int
    first_time: datetime
    last_time: datetime


class Store(Protocol):
    def get(self, kind: str, namespace: str | None, name: str) -> AnyResource:
        """Raises NotFoundError."""
        ...

    def list(
        self, kind: str, *, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> ListResult:
        """All objects of a kind, optionally in one namespace and matching a label selector."""
        ...

    def create(self, obj: AnyResource) -> AnyResource:
        """Raises AlreadyExistsError."""
        ...

    def update(self, obj: AnyResource) -> AnyResource:
        """Metadata and spec. Raises NotFoundError, ConflictError (stale resourceVersion)."""
        ...

    def update_status(self, obj: AnyResource) -> AnyResource:
        """Status only. Raises NotFoundError, ConflictError (stale resourceVersion)."""
        ...

    def delete(
        self, kind: str, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> AnyResource | InvalidObject:
        """Delete, or mark for deletion when finalizers remain. Returns the object as it now stands."""
        ...

    def current_resource_version(self) -> int: ...

    def changes_since(
        self, resource_version: int, *, kinds: frozenset[str] | None = None, limit: int = 1000
    ) -> builtins.list[WatchEvent]:  # `list` here is Store.list
        """Changes after resource_version, oldest first. GoneError when that history was compacted."""
        ...

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        """Call `callback(new_resource_version)` after each committed write (from the writer's thread).

        Returns a function that unsubscribes.
        """
        ...

    def watch(self, *, since: int, kinds: frozenset[str] | None = None) -> AsyncIterator[WatchEvent]:
        """Replay changes after `since`, then follow new ones, forever (cancel to stop)."""
        ...

    def record_event(
        self, obj: AnyResource | InvalidObject, *, type: EventType, reason: str, message: str
    ) -> None: ...

    def list_events(
        self, *, kind: str | None = None, namespace: str | None = None, name: str | None = None
    ) -> builtins.list[ObjectEvent]:
        """Events oldest first (by last time), filtered by whatever is given."""
        ...

    def close(self) -> None: ...
