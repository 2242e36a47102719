"""The data layer: list, then follow the API's watch stream, and hand the UI ready-made table rows.

It runs in its own thread so neither HTTP nor turning objects into cells ever blocks a keystroke. It is
level-based like a Kubernetes informer: list every kind (remembering the list's resourceVersion), watch
from there, and on a lost connection resume from the last resourceVersion seen; when the server answers
410 Gone (that history was compacted) it lists again. The UI learns the connection state from the same
channel as the rows, so it can say *reconnecting* while the stream is down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from park.client import Listing
from park.core.clock import Clock
from park.core.errors import GoneError, ParkError
from park.core.loading import parse_resource
from park.core.resources import AnyResource, ResourceKey
from park.ui.views import Cells, ViewSpec

logger = logging.getLogger(__name__)

State = Literal["connecting", "live", "reconnecting"]


class Source(Protocol):
    """The part of `ParkClient` the mirror uses (a seam for tests without sockets)."""

    def kinds(self) -> list[dict[str, Any]]: ...

    def list_with_version(self, kind: str, *, namespace: str | None = None) -> Listing: ...

    def watch(
        self,
        *,
        resource_version: int | None = None,
        kinds: str | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Row:
    key: ResourceKey
    cells: Cells
    obj: AnyResource


@dataclass(frozen=True)
class Available:
    """The kinds the server lists that the console has a view for, in the console's order."""

    kinds: tuple[str, ...]


@dataclass(frozen=True)
class Reset:
    """Everything of one kind, after a (re)list: replaces what the UI held."""

    kind: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Changed:
    kind: str
    key: ResourceKey
    row: Row | None  # None: deleted


@dataclass(frozen=True)
class Connection:
    state: State
    detail: str = ""


Update = Available | Reset | Changed | Connection


class Mirror:
    """Keeps the UI's copy of every viewed kind current. `publish` is called from the mirror's thread."""

    def __init__(
        self,
        *,
        connect: Callable[[], Source],
        views: Mapping[str, ViewSpec],
        publish: Callable[[Update], None],
        clock: Clock,
        namespace: str | None = None,
        retry_seconds: tuple[float, float] = (0.25, 5.0),
    ) -> None:
        self._connect = connect
        self._views = views
        self._publish = publish
        self._clock = clock
        self._namespace = namespace
        self._retry = retry_seconds
        self._stop = threading.Event()
        self._source: Source | None = None
        self._thread: threading.Thread | None = None
        self.resource_version: int | None = None
        self.kinds: tuple[str, ...] = ()
        self._listed_at: dict[str, int] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="park-console-mirror", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the thread: closing the client interrupts a watch that is blocked reading."""
        self._stop.set()
        source = self._source
        if source is not None:
            source.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run(self) -> None:
        delay = self._retry[0]
        self._publish(Connection("connecting"))
        while not self._stop.is_set():
            self._source = self._connect()
            try:
                self._sync_and_follow(self._source)
                delay = self._retry[0]  # the server ended the stream cleanly: reconnect at once
            except GoneError:
                self.resource_version = None  # the history we would resume from is gone: list again
                continue
            except (ParkError, OSError, RuntimeError) as exc:
                if self._stop.is_set():
                    break
                logger.info("watch lost: %s", exc)
                self._publish(Connection("reconnecting", str(exc)))
                self._stop.wait(delay)
                delay = min(delay * 2, self._retry[1])
            finally:
                self._source.close()

    def _sync_and_follow(self, source: Source) -> None:
        if self.resource_version is None:
            self._relist(source)
        stream = source.watch(
            resource_version=self.resource_version,
            kinds=",".join(self.kinds),
            on_open=lambda: self._publish(Connection("live")),  # live once the server took the watch
        )
        for change in stream:
            if self._stop.is_set():
                return
            self._apply(change)

    def _relist(self, source: Source) -> None:
        served = {entry["kind"] for entry in source.kinds()}
        self.kinds = tuple(kind for kind in self._views if kind in served)
        self._publish(Available(self.kinds))
        listed_at: dict[str, int] = {}
        for kind in self.kinds:
            view = self._views[kind]
            listing = source.list_with_version(kind, namespace=self._namespace if view.namespaced else None)
            now = self._clock.now()
            rows = tuple(Row(obj.key, view.row(obj, now), obj) for obj in listing.items)
            self._publish(Reset(kind, rows))
            listed_at[kind] = listing.resource_version
        # Kinds are listed one after another: watch from the oldest list and skip, per kind, what its
        # own list already showed, so a change between two lists is neither lost nor shown twice.
        self._listed_at = listed_at
        self.resource_version = min(listed_at.values(), default=0)

    def _apply(self, change: dict[str, Any]) -> None:
        obj = parse_resource(change["object"])
        self.resource_version = int(obj.metadata.resource_version or self.resource_version or 0)
        view = self._views.get(obj.kind)
        if view is None or int(obj.metadata.resource_version or 0) <= self._listed_at.get(obj.kind, 0):
            return
        if view.namespaced and self._namespace and obj.metadata.namespace != self._namespace:
            return
        if change["type"] == "DELETED":
            self._publish(Changed(obj.kind, obj.key, None))
        else:
            self._publish(Changed(obj.kind, obj.key, Row(obj.key, view.row(obj, self._clock.now()), obj)))
