"""Opening the SQLite state file: connection settings, the schema and its migrations, error wrapping.

The schema version lives in `PRAGMA user_version`, so a later Park can migrate a state directory in
place, and an older Park refuses a file written by a newer one instead of misreading it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from park.core.errors import ParkError, StateLockedError

logger = logging.getLogger(__name__)

MEMORY = ":memory:"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 5.0

_SCHEMA_V1 = (
    """CREATE TABLE objects (
        kind      TEXT NOT NULL,
        namespace TEXT NOT NULL,          -- '' for cluster-scoped kinds
        name      TEXT NOT NULL,
        rv        INTEGER NOT NULL,
        body      TEXT NOT NULL,          -- the resource as JSON (to_dict)
        PRIMARY KEY (kind, namespace, name)
    ) WITHOUT ROWID""",
    """CREATE TABLE changes (
        rv        INTEGER PRIMARY KEY,    -- one row per resourceVersion: the watch history
        kind      TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name      TEXT NOT NULL,
        type      TEXT NOT NULL,          -- ADDED, MODIFIED, DELETED
        body      TEXT NOT NULL
    )""",
    """CREATE TABLE events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind       TEXT NOT NULL,
        namespace  TEXT NOT NULL,
        name       TEXT NOT NULL,
        uid        TEXT NOT NULL,
        type       TEXT NOT NULL,
        reason     TEXT NOT NULL,
        message    TEXT NOT NULL,
        count      INTEGER NOT NULL,
        first_time TEXT NOT NULL,         -- ISO 8601 in UTC, fixed width, so it sorts as text
        last_time  TEXT NOT NULL
    )""",
    "CREATE INDEX events_by_object ON events (kind, namespace, name, last_time)",
    "CREATE INDEX events_by_time ON events (last_time)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO meta (key, value) VALUES ('resource_version', 0)",
)


def _create_v1(db: sqlite3.Connection) -> None:
    # Statement by statement: executescript() would commit the migration's transaction early.
    for statement in _SCHEMA_V1:
        db.execute(statement)


# Index i upgrades a file from schema version i to i + 1.
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_create_v1,)


def wrap_error(exc: sqlite3.Error, path: str) -> ParkError:
    """One-line Park error for a SQLite failure; callers chain it (`raise ... from exc`)."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StateLockedError(
            f"state database {path} is locked by another process; stop the other `park up` "
            "or use another state directory"
        )
    return ParkError(f"state database {path}: {text}")


def connect(path: Path | str) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the state file; shared by threads under the store's lock."""
    target = str(path)
    try:
        db = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise wrap_error(exc, target) from exc
    try:
        _configure(db, target)
        _migrate(db, target)
    except BaseException:
        db.close()
        raise
    return db


def _configure(db: sqlite3.Connection, path: str) -> None:
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        raise _unreadable(exc, path) from exc
    if path != MEMORY and str(mode).lower() != "wal":
        logger.warning("state database %s: WAL mode unavailable (journal mode %s)", path, mode)


def _migrate(db: sqlite3.Connection, path: str) -> None:
    try:
        db.execute("BEGIN IMMEDIATE")
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            db.execute("ROLLBACK")
            raise ParkError(
                f"state database {path} has schema version {version}, newer than this Park "
                f"understands ({SCHEMA_VERSION}); upgrade Park"
            )
        for step in range(version, SCHEMA_VERSION):
            logger.info("state database %s: migrating schema %d -> %d", path, step, step + 1)
            _MIGRATIONS[step](db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise _unreadable(exc, path) from exc


def _unreadable(exc: sqlite3.Error, path: str) -> ParkError:
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return ParkError(f"{path} is not a Park state database; move it away or point Park elsewhere")
    return wrap_error(exc, path)
