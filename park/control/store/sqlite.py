"""The embedded store: one SQLite file (WAL) behind the `Store` protocol, for `park up` and tests.

One connection is shared by API handlers, controllers and watchers in several threads; a reentrant
lock serialises its transactions. Reads decode JSON after the lock is released, and subscribers
are called after the commit and outside the lock, so neither a big list nor a slow watcher holds
up a writer. No SQLite type or exception leaves this module.

A row the model refuses (written by an older Park, before a rule existed) hides only itself; see
`park.control.store.decoding`.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from park.control.store import _semantics as rules
from park.control.store import _sqlite_events as events
from park.control.store._sqlite_schema import connect, wrap_error
from park.control.store._watching import follow
from park.control.store.decoding import InvalidLog, invalid_object, reference, split, unreadable
from park.control.store.interface import (
    EventType,
    InvalidObject,
    ListResult,
    ObjectEvent,
    Store,
    WatchEvent,
    WatchEventType,
)
from park.control.store.selectors import LabelSelector
from park.core.clock import Clock, SystemClock
from park.core.errors import AlreadyExistsError, GoneError, InvalidError, NotFoundError, ParkError
from park.core.kinds import KINDS, kind_info
from park.core.loading import format_validation_error
from park.core.resources import AnyResource

logger = logging.getLogger(__name__)

_WATCH_BATCH = 1000


class SQLiteStore:
    """Kubernetes API-server semantics (see `park.control.store.interface`) on a local file."""

    def __init__(self, path: Path | str, *, clock: Clock | None = None, history_limit: int = 10_000) -> None:
        if history_limit < 1:
            raise InvalidError(f"history_limit must be at least 1, got {history_limit}")
        self._path = str(path)
        self._clock = clock or SystemClock()
        self._history_limit = history_limit
        self._lock = threading.RLock()
        self._subscribers: tuple[Callable[[int], None], ...] = ()
        self._subscribers_lock = threading.Lock()
        self._closed = False
        self._db = connect(self._path)
        self._invalid_log = InvalidLog()

    # ------------------------------------------------------------------ reads

    def get(self, kind: str, namespace: str | None, name: str) -> AnyResource:
        info = kind_info(kind)
        with self._transaction() as db:
            _, body = _row(db, info.kind, rules.lookup_namespace(info, namespace, name), name)
        decoded = _decode(info.kind, body)
        if isinstance(decoded, InvalidObject):
            self._invalid_log.report(decoded)
            raise unreadable(decoded)
        return decoded

    def list(
        self, kind: str, *, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> ListResult:
        info = kind_info(kind)
        where, params = "kind = ?", [info.kind]
        if namespace is not None and info.namespaced:
            where, params = "kind = ? AND namespace = ?", [info.kind, namespace]
        with self._transaction() as db:
            version = _current(db)
            sql = f"SELECT body FROM objects WHERE {where} ORDER BY namespace, name"  # noqa: S608
            rows = db.execute(sql, params).fetchall()
        items, invalid = split(_decode(info.kind, body) for (body,) in rows)
        for problem in invalid:
            self._invalid_log.report(problem)
        if selector is not None:
            items = [obj for obj in items if selector.matches(obj.metadata.labels)]
        return ListResult(items=items, resource_version=version, invalid=invalid)

    def current_resource_version(self) -> int:
        with self._transaction() as db:
            return _current(db)

    def changes_since(
        self, resource_version: int, *, kinds: frozenset[str] | None = None, limit: int = 1000
    ) -> builtins.list[WatchEvent]:
        return self._changes(resource_version, kinds=kinds, limit=limit)[0]

    # ------------------------------------------------------------------ writes

    def create(self, obj: AnyResource) -> AnyResource:
        info = kind_info(obj.kind)
        namespace = rules.check_scope(info, obj)
        new = rules.created(info, obj, now=self._clock.now())
        with self._transaction(write=True) as db:
            if _exists(db, info.kind, namespace, obj.metadata.name):
                what = rules.describe(info.kind, namespace, obj.metadata.name)
                raise AlreadyExistsError(f"{what} already exists")
            events.forget(db, (info.kind, namespace, obj.metadata.name))
            version = self._write(db, new, "ADDED")
        self._notify(version)
        return new

    def update(self, obj: AnyResource) -> AnyResource:
        info = kind_info(obj.kind)
        namespace = rules.lookup_namespace(info, obj.metadata.namespace, obj.metadata.name)
        with self._transaction(write=True) as db:
            stored = self._load_checked(db, info.kind, namespace, obj)
            new = rules.updated(info, stored, obj)
            if new is None:
                return rules.validated(info, stored)
            version = self._write(db, new, "DELETED" if rules.is_finished(new) else "MODIFIED")
        self._notify(version)
        return new

    def update_status(self, obj: AnyResource) -> AnyResource:
        info = kind_info(obj.kind)
        namespace = rules.lookup_namespace(info, obj.metadata.namespace, obj.metadata.name)
        with self._transaction(write=True) as db:
            stored = self._load_checked(db, info.kind, namespace, obj)
            new = rules.status_updated(info, stored, obj)
            if new is None:
                return rules.validated(info, stored)
            version = self._write(db, new, "MODIFIED")
        self._notify(version)
        return new

    def delete(
        self, kind: str, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> AnyResource | InvalidObject:
        """An object the model refuses goes at once: the owners of its finalizers could not read it."""
        info = kind_info(kind)
        column = rules.lookup_namespace(info, namespace, name)
        with self._transaction(write=True) as db:
            stored_version, stored = self._load(db, info.kind, column, name)
            rules.check_version(rules.describe(info.kind, column, name), stored_version, resource_version)
            readable = _readable(info.kind, stored)
            new: AnyResource | InvalidObject = readable
            if isinstance(readable, InvalidObject):
                version = self._log(db, (info.kind, column, name), stored, "DELETED")
            elif stored["metadata"].get("deletionTimestamp"):
                return readable  # already marked: finalizer owners are at work
            elif stored["metadata"].get("finalizers"):
                new = rules.marked_for_deletion(info, stored, now=self._clock.now())
                version = self._write(db, new, "MODIFIED")
            else:
                version = self._write(db, readable, "DELETED")
        self._notify(version)
        return new

    # ------------------------------------------------------------------ watches

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        with self._subscribers_lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._subscribers_lock:
                remaining = list(self._subscribers)
                if callback in remaining:
                    remaining.remove(callback)
                self._subscribers = tuple(remaining)

        return unsubscribe

    def watch(self, *, since: int, kinds: frozenset[str] | None = None) -> AsyncIterator[WatchEvent]:
        def read(after: int) -> tuple[builtins.list[WatchEvent], int]:
            return self._changes(after, kinds=kinds, limit=_WATCH_BATCH)

        return follow(read, self.subscribe, since=since, batch=_WATCH_BATCH)

    # ------------------------------------------------------------------ events

    def record_event(
        self, obj: AnyResource | InvalidObject, *, type: EventType, reason: str, message: str
    ) -> None:
        kind, namespace, name, uid = reference(obj)
        key = (kind, namespace or "", name)
        with self._transaction(write=True) as db:
            events.record(db, key, uid=uid, type=type, reason=reason, message=message, now=self._clock.now())

    def list_events(
        self, *, kind: str | None = None, namespace: str | None = None, name: str | None = None
    ) -> builtins.list[ObjectEvent]:
        with self._transaction() as db:
            return events.query(db, kind=kind, namespace=namespace, name=name)

    def close(self) -> None:
        """Close the file; watchers wake up and raise, rather than wait forever on a closed store."""
        with self._lock:
            if self._closed:
                return
            version = self.current_resource_version()
            self._closed = True
            self._db.close()
        self._notify(version)

    # ------------------------------------------------------------------ internals

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock; SQLite errors become ParkErrors, anything raised rolls back."""
        with self._lock:
            if self._closed:
                raise ParkError(f"the store at {self._path} is closed")
            try:
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise wrap_error(exc, self._path) from exc

    def _load(
        self, db: sqlite3.Connection, kind: str, namespace: str, name: str
    ) -> tuple[int, dict[str, Any]]:
        version, body = _row(db, kind, namespace, name)
        return version, json.loads(body)

    def _load_checked(
        self, db: sqlite3.Connection, kind: str, namespace: str, obj: AnyResource
    ) -> dict[str, Any]:
        version, stored = self._load(db, kind, namespace, obj.metadata.name)
        what = rules.describe(kind, namespace, obj.metadata.name)
        rules.check_version(what, version, obj.metadata.resource_version)
        return stored

    def _write(self, db: sqlite3.Connection, obj: AnyResource, change: WatchEventType) -> int:
        """Stamp the next resourceVersion on `obj`, store it (or remove it), log the change, compact."""
        key = (obj.kind, obj.metadata.namespace or "", obj.metadata.name)
        version = self._log(db, key, obj.to_dict(), change)
        obj.metadata.resource_version = str(version)
        return version

    def _log(
        self, db: sqlite3.Connection, key: tuple[str, str, str], data: dict[str, Any], change: WatchEventType
    ) -> int:
        """Store `data` under the next resourceVersion (or remove it), log the change, compact."""
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'resource_version'")
        version = _current(db)
        data["metadata"]["resourceVersion"] = str(version)
        body = json.dumps(data, separators=(",", ":"))
        if change == "DELETED":
            db.execute("DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?", key)
            events.forget(db, key)
        else:
            db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)", (*key, version, body))
        db.execute("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?)", (version, *key, change, body))
        db.execute("DELETE FROM changes WHERE rv <= ?", (version - self._history_limit,))
        return version

    def _changes(
        self, after: int, *, kinds: frozenset[str] | None, limit: int
    ) -> tuple[builtins.list[WatchEvent], int]:
        """Changes after `after` and the resourceVersion this read covered (see `_watching`)."""
        where = "rv > ?"
        params: builtins.list[str | int] = [after]
        if kinds is not None:
            where += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params += sorted(kinds)
        with self._transaction() as db:
            current = _current(db)
            _check_history(db, after, current)
            sql = f"SELECT rv, kind, type, body FROM changes WHERE {where} ORDER BY rv LIMIT ?"  # noqa: S608
            rows = db.execute(sql, [*params, limit]).fetchall()
        covered = current if len(rows) < limit else int(rows[-1][0])
        changes = []
        for rv, kind, type, body in rows:
            decoded = _decode(kind, body)
            if isinstance(decoded, InvalidObject):
                self._invalid_log.report(decoded)  # a watcher never sees it; a list names it
            else:
                changes.append(WatchEvent(type, rv, decoded))
        return changes, covered

    def _notify(self, version: int) -> None:
        for callback in self._subscribers:
            try:
                callback(version)
            except Exception:
                logger.exception("store subscriber %r failed", callback)


def _decode(kind: str, body: str) -> AnyResource | InvalidObject:
    """Validate stored JSON straight from text: about twice as fast as json.loads + model_validate."""
    try:
        return KINDS[kind].model.model_validate_json(body)
    except ValidationError as exc:
        return invalid_object(kind, json.loads(body), format_validation_error(exc))


def _readable(kind: str, data: dict[str, Any]) -> AnyResource | InvalidObject:
    try:
        return KINDS[kind].model.model_validate(data)
    except ValidationError as exc:
        return invalid_object(kind, data, format_validation_error(exc))


def _row(db: sqlite3.Connection, kind: str, namespace: str, name: str) -> tuple[int, str]:
    sql = "SELECT rv, body FROM objects WHERE kind = ? AND namespace = ? AND name = ?"
    row = db.execute(sql, (kind, namespace, name)).fetchone()
    if row is None:
        raise NotFoundError(f"{rules.describe(kind, namespace, name)} not found")
    return int(row[0]), str(row[1])


def _current(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT value FROM meta WHERE key = 'resource_version'").fetchone()[0])


def _exists(db: sqlite3.Connection, kind: str, namespace: str, name: str) -> bool:
    sql = "SELECT 1 FROM objects WHERE kind = ? AND namespace = ? AND name = ?"
    return db.execute(sql, (kind, namespace, name)).fetchone() is not None


def _check_history(db: sqlite3.Connection, after: int, current: int) -> None:
    """GoneError when changes after `after` were compacted away (the log keeps the newest N)."""
    oldest = db.execute("SELECT MIN(rv) FROM changes").fetchone()[0]
    if after < current and (oldest is None or after < int(oldest) - 1):
        raise GoneError(
            f"watch history before resourceVersion {oldest or current} was compacted; "
            "list again and watch from the list's resourceVersion"
        )


if TYPE_CHECKING:

    def _implements_store(store: SQLiteStore) -> Store:  # mypy checks the protocol here
        return store
