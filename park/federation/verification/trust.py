"""Adaptive replication's memory: per (node, work type), how many valid results in a row, how many strikes.

BOINC's adaptive replication: a host is trusted for an app after a run of valid results, and trusted
results are only spot-checked; one invalid result resets the run.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trust (
    peer TEXT NOT NULL,
    app TEXT NOT NULL,
    streak INTEGER NOT NULL DEFAULT 0,
    valid INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (peer, app)
);
CREATE TABLE IF NOT EXISTS strikes (
    peer TEXT PRIMARY KEY,
    count INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class Record:
    peer: str
    app: str
    streak: int = 0
    valid: int = 0
    invalid: int = 0


class TrustBook:
    def __init__(self, db: sqlite3.Connection, lock: threading.Lock, *, trust_after: int) -> None:
        self._db, self._lock, self.trust_after = db, lock, trust_after
        with self._lock:
            self._db.executescript(_SCHEMA)

    def record(self, peer: str, app: str) -> Record:
        with self._lock:
            row = self._db.execute(
                "SELECT streak, valid, invalid FROM trust WHERE peer = ? AND app = ?", (peer, app)
            ).fetchone()
        return Record(peer, app, *row) if row else Record(peer, app)

    def trusted(self, peer: str, app: str) -> bool:
        return self.record(peer, app).streak >= self.trust_after

    def trusted_peers(self, app: str) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT peer FROM trust WHERE app = ? AND streak >= ?", (app, self.trust_after)
            ).fetchall()
        return {row[0] for row in rows}

    def valid(self, peer: str, app: str) -> Record:
        with self._lock:
            self._db.execute(
                "INSERT INTO trust (peer, app, streak, valid) VALUES (?, ?, 1, 1) ON CONFLICT (peer, app)"
                " DO UPDATE SET streak = streak + 1, valid = valid + 1",
                (peer, app),
            )
        return self.record(peer, app)

    def invalid(self, peer: str, app: str) -> int:
        """Reset the run of valid results; the node's strikes (over every work type) after this one."""
        with self._lock:
            self._db.execute(
                "INSERT INTO trust (peer, app, streak, invalid) VALUES (?, ?, 0, 1) ON CONFLICT (peer, app)"
                " DO UPDATE SET streak = 0, invalid = invalid + 1",
                (peer, app),
            )
            self._db.execute(
                "INSERT INTO strikes (peer, count) VALUES (?, 1) ON CONFLICT (peer)"
                " DO UPDATE SET count = count + 1",
                (peer,),
            )
            row = self._db.execute("SELECT count FROM strikes WHERE peer = ?", (peer,)).fetchone()
        return int(row[0])

    def strikes(self, peer: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT count FROM strikes WHERE peer = ?", (peer,)).fetchone()
        return int(row[0]) if row else 0
