"""Per-object events in SQLite, counted like Kubernetes Events so a crash loop is one row, not thousands.

Functions take an open connection inside the store's transaction; they never commit.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import cast

from park.control.store.interface import EventType, ObjectEvent

MAX_EVENTS_PER_OBJECT = 200

_BUMP = """
UPDATE events SET count = count + 1, last_time = ?
WHERE kind = ? AND namespace = ? AND name = ? AND uid = ? AND type = ? AND reason = ? AND message = ?
"""
_INSERT = """
INSERT INTO events (kind, namespace, name, uid, type, reason, message, count, first_time, last_time)
VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
"""
_TRIM = """
DELETE FROM events WHERE id IN (
    SELECT id FROM events WHERE kind = ? AND namespace = ? AND name = ?
    ORDER BY last_time DESC, id DESC LIMIT -1 OFFSET ?
)
"""
_COLUMNS = "kind, namespace, name, uid, type, reason, message, count, first_time, last_time"


def timestamp(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601, so ORDER BY on the text is ORDER BY time."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def record(
    db: sqlite3.Connection,
    key: tuple[str, str, str],
    *,
    uid: str,
    type: EventType,
    reason: str,
    message: str,
    now: datetime,
) -> None:
    """Count a repeat of the same (object uid, type, reason, message), or add a row; keep the newest 200."""
    when = timestamp(now)
    what = (*key, uid, type, reason, message)
    if db.execute(_BUMP, (when, *what)).rowcount == 0:
        db.execute(_INSERT, (*what, when, when))
        db.execute(_TRIM, (*key, MAX_EVENTS_PER_OBJECT))


def query(
    db: sqlite3.Connection, *, kind: str | None, namespace: str | None, name: str | None
) -> list[ObjectEvent]:
    """Events oldest first (by last time), filtered by whichever of kind, namespace and name are given."""
    wanted = (("kind", kind), ("namespace", namespace), ("name", name))
    given = [(column, value) for column, value in wanted if value is not None]
    where = " AND ".join(f"{column} = ?" for column, _ in given) or "1"
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY last_time, id",  # noqa: S608 (fixed columns)
        [value for _, value in given],
    ).fetchall()
    return [_event(row) for row in rows]


def forget(db: sqlite3.Connection, key: tuple[str, str, str]) -> None:
    """Drop an object's events: it is gone, and a new object with its name starts clean."""
    db.execute("DELETE FROM events WHERE kind = ? AND namespace = ? AND name = ?", key)


def _event(row: tuple[str, str, str, str, str, str, str, int, str, str]) -> ObjectEvent:
    kind, namespace, name, uid, type_, reason, message, count, first, last = row
    return ObjectEvent(
        kind=kind,
        namespace=namespace or None,
        name=name,
        uid=uid,
        type=cast(EventType, type_),
        reason=reason,
        message=message,
        count=count,
        first_time=datetime.fromisoformat(first),
        last_time=datetime.fromisoformat(last),
    )
