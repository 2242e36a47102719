"""The gateway's work units and their leases, persisted in SQLite so a restart loses nothing.

A unit is queued, leased to one node until a deadline that heartbeats push forward, then done or
failed. An expired lease, a dropped node or a failed attempt puts the unit back in the queue until
it has used `max_attempts`; a result counts only from the node that holds the lease.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from park.core.errors import InvalidError, NotFoundError
from park.core.resources import NodeCapabilities
from park.federation.wire import digest

WorkState = Literal["queued", "leased", "done", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS work (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    payload TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    needs TEXT NOT NULL,
    state TEXT NOT NULL,
    peer TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_s REAL NOT NULL,
    deadline REAL,
    submitted_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    tried_by TEXT NOT NULL DEFAULT '[]',
    output TEXT,
    output_sha256 TEXT,
    error TEXT,
    completed_by TEXT,
    task_id TEXT,
    only_peers TEXT,
    exclude_peers TEXT NOT NULL DEFAULT '[]',
    claimed REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS work_state ON work (state, submitted_at);
CREATE INDEX IF NOT EXISTS work_task ON work (task_id);
CREATE INDEX IF NOT EXISTS work_lease ON work (state, only_peers IS NULL, submitted_at, id);
CREATE TABLE IF NOT EXISTS redeemed_nonces (
    nonce TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    redeemed_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class WorkUnit:
    id: str
    app: str
    payload: dict[str, Any]
    payload_sha256: str
    needs: NodeCapabilities
    state: WorkState
    peer: str | None
    attempt: int
    max_attempts: int
    lease_s: float
    deadline: float | None
    submitted_at: float
    updated_at: float
    tried_by: tuple[str, ...]
    output: dict[str, Any] | None
    output_sha256: str | None
    error: str | None
    completed_by: str | None
    task_id: str | None = None
    only_peers: tuple[str, ...] | None = None
    exclude_peers: tuple[str, ...] = ()
    claimed: float = 0.0

    def may_run(self, peer: str) -> bool:
        """Placement for verification: replicas avoid the nodes they check, canaries pick theirs."""
        return peer not in self.exclude_peers and (self.only_peers is None or peer in self.only_peers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "payload": self.payload,
            "payloadSha256": self.payload_sha256,
            "state": self.state,
            "peer": self.peer,
            "attempt": self.attempt,
            "maxAttempts": self.max_attempts,
            "deadline": self.deadline,
            "submittedAt": self.submitted_at,
            "updatedAt": self.updated_at,
            "triedBy": list(self.tried_by),
            "output": self.output,
            "outputSha256": self.output_sha256,
            "error": self.error,
            "completedBy": self.completed_by,
            "taskId": self.task_id,
            "claimedCpuSeconds": self.claimed,
        }


@dataclass(frozen=True)
class Outcome:
    """What became of a result a node sent."""

    accepted: bool
    message: str
    unit: WorkUnit | None = None


def _row(row: sqlite3.Row) -> WorkUnit:
    return WorkUnit(
        id=row["id"],
        app=row["app"],
        payload=json.loads(row["payload"]),
        payload_sha256=row["payload_sha256"],
        needs=NodeCapabilities.model_validate_json(row["needs"]),
        state=row["state"],
        peer=row["peer"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        lease_s=row["lease_s"],
        deadline=row["deadline"],
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        tried_by=tuple(json.loads(row["tried_by"])),
        output=json.loads(row["output"]) if row["output"] is not None else None,
        output_sha256=row["output_sha256"],
        error=row["error"],
        completed_by=row["completed_by"],
        task_id=row["task_id"],
        only_peers=tuple(json.loads(row["only_peers"])) if row["only_peers"] is not None else None,
        exclude_peers=tuple(json.loads(row["exclude_peers"])),
        claimed=row["claimed"],
    )


class WorkQueue:
    """Thread-safe: the mesh thread leases and completes while the API thread submits and reads."""

    def __init__(self, path: Path | str = ":memory:", *, default_lease_s: float = 30.0) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._migrate()
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.default_lease_s = default_lease_s

    @property
    def db(self) -> sqlite3.Connection:
        """The database, for the verification tables that live beside the work (hold `lock`)."""
        return self._db

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def _migrate(self) -> None:
        """Databases from before verification lack the task columns: add them."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(work)")}
        if not columns:
            return
        for name, kind in (
            ("task_id", "TEXT"),
            ("only_peers", "TEXT"),
            ("exclude_peers", "TEXT NOT NULL DEFAULT '[]'"),
            ("claimed", "REAL NOT NULL DEFAULT 0"),
        ):
            if name not in columns:
                self._db.execute(f"ALTER TABLE work ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ submitting and reading

    def submit(
        self,
        app: str,
        payload: dict[str, Any],
        *,
        now: float,
        needs: NodeCapabilities | None = None,
        max_attempts: int = 3,
        lease_s: float | None = None,
        work_id: str | None = None,
        task_id: str | None = None,
        only_peers: list[str] | None = None,
        exclude_peers: list[str] | None = None,
    ) -> WorkUnit:
        if max_attempts < 1:
            raise InvalidError("maxAttempts must be at least 1")
        needs = (needs or NodeCapabilities()).model_copy(update={"apps": [app]})
        work_id = work_id or f"w-{secrets.token_hex(12)}"
        with self._lock:
            self._db.execute(
                "INSERT INTO work (id, app, payload, payload_sha256, needs, state, max_attempts, lease_s,"
                " submitted_at, updated_at, task_id, only_peers, exclude_peers)"
                " VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (
                    work_id,
                    app,
                    json.dumps(payload),
                    digest(payload),
                    needs.model_dump_json(),
                    max_attempts,
                    lease_s or self.default_lease_s,
                    now,
                    now,
                    task_id,
                    json.dumps(sorted(only_peers)) if only_peers is not None else None,
                    json.dumps(sorted(exclude_peers or [])),
                ),
            )
        return self.get(work_id)

    def get(self, work_id: str) -> WorkUnit:
        with self._lock:
            row = self._db.execute("SELECT * FROM work WHERE id = ?", (work_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no work unit {work_id!r}")
        return _row(row)

    def units(self, *, state: WorkState | None = None, limit: int = 1000) -> list[WorkUnit]:
        query, args = "SELECT * FROM work", ()  # type: tuple[str, tuple[Any, ...]]
        if state is not None:
            query, args = query + " WHERE state = ?", (state,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY submitted_at, id LIMIT ?", (*args, limit)).fetchall()
        return [_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM work GROUP BY state").fetchall()
        return {state: count for state, count in rows}

    def leased_to(self, peer: str) -> list[WorkUnit]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM work WHERE state = 'leased' AND peer = ? ORDER BY id", (peer,)
            ).fetchall()
        return [_row(r) for r in rows]

    # ------------------------------------------------------------ leases

    def lease(self, peer: str, offer: NodeCapabilities, *, now: float) -> WorkUnit | None:
        """The oldest queued unit this node can run, preferring units placed for it (replicas, canaries)
        and units it has not tried before. Walks an index in that order, reading only what the choice
        needs, and stops at the first fresh fit (so a long queue costs a lease almost nothing)."""
        if not offer.apps:
            return None
        with self._lock:
            marks = ",".join("?" * len(offer.apps))
            cursor = self._db.execute(
                "SELECT id, needs, tried_by, only_peers, exclude_peers, lease_s FROM work"  # noqa: S608 - only ?s
                f" WHERE state = 'queued' AND app IN ({marks})"
                " ORDER BY only_peers IS NULL, submitted_at, id LIMIT 500",
                tuple(offer.apps),
            )
            chosen: tuple[str, list[str], float] | None = None
            needs_seen: dict[str, NodeCapabilities] = {}
            for work_id, needs, tried_by, only_peers, exclude_peers, lease_s in cursor:
                if needs not in needs_seen:
                    needs_seen[needs] = NodeCapabilities.model_validate_json(needs)
                if not offer.covers(needs_seen[needs]) or peer in json.loads(exclude_peers):
                    continue
                if only_peers is not None and peer not in json.loads(only_peers):
                    continue
                tried = json.loads(tried_by)
                if peer not in tried:
                    chosen = (work_id, tried, lease_s)
                    break
                if chosen is None:
                    chosen = (work_id, tried, lease_s)  # the first fit, should no fresh one follow
            cursor.close()
            if chosen is None:
                return None
            work_id, tried, lease_s = chosen
            self._db.execute(
                "UPDATE work SET state = 'leased', peer = ?, attempt = attempt + 1, deadline = ?,"
                " updated_at = ?, tried_by = ? WHERE id = ? AND state = 'queued'",
                (peer, now + lease_s, now, json.dumps(sorted({*tried, peer})), work_id),
            )
            row = self._db.execute("SELECT * FROM work WHERE id = ?", (work_id,)).fetchone()
        return _row(row)

    def heartbeat(self, peer: str, work_ids: list[str], *, now: float) -> tuple[list[str], list[str]]:
        """(extended, cancelled): leases this peer holds move their deadline; others are not its."""
        extended: list[str] = []
        cancelled: list[str] = []
        with self._lock:
            for work_id in work_ids:
                cursor = self._db.execute(
                    "UPDATE work SET deadline = ? + lease_s, updated_at = ?"
                    " WHERE id = ? AND state = 'leased' AND peer = ?",
                    (now, now, work_id, peer),
                )
                (extended if cursor.rowcount else cancelled).append(work_id)
        return extended, cancelled

    def complete(
        self,
        peer: str,
        work_id: str,
        *,
        ok: bool,
        output: dict[str, Any],
        output_sha256: str,
        error: str | None,
        now: float,
        suspended: bool = False,
        claimed: float = 0.0,
    ) -> Outcome:
        """Record a result, but only from the node holding the lease and only if its hash is right.

        A suspended attempt (the owner took the machine back) goes back to the queue without using
        up one of the unit's attempts.
        """
        if digest(output) != output_sha256:
            return Outcome(False, "output does not match its sha256")
        with self._lock:
            row = self._db.execute("SELECT * FROM work WHERE id = ?", (work_id,)).fetchone()
            if row is None:
                return Outcome(False, f"no work unit {work_id}")
            unit = _row(row)
            if unit.state != "leased" or unit.peer != peer:
                return Outcome(False, f"{work_id} is not leased to {peer} (it is {unit.state})")
            if suspended:
                self._db.execute(
                    "UPDATE work SET state = 'queued', peer = NULL, deadline = NULL, attempt = attempt - 1,"
                    " error = ?, updated_at = ? WHERE id = ?",
                    (error or "suspended", now, work_id),
                )
            elif ok:
                self._db.execute(
                    "UPDATE work SET state = 'done', output = ?, output_sha256 = ?, completed_by = ?,"
                    " deadline = NULL, updated_at = ?, error = NULL, claimed = ? WHERE id = ?",
                    (json.dumps(output), output_sha256, peer, now, claimed, work_id),
                )
            else:
                state = "queued" if unit.attempt < unit.max_attempts else "failed"
                self._db.execute(
                    "UPDATE work SET state = ?, peer = NULL, deadline = NULL, error = ?, updated_at = ?"
                    " WHERE id = ?",
                    (state, error or "failed", now, work_id),
                )
            row = self._db.execute("SELECT * FROM work WHERE id = ?", (work_id,)).fetchone()
        return Outcome(True, "recorded", _row(row))

    def expire(self, *, now: float) -> list[WorkUnit]:
        """Take back every lease past its deadline; the units as they were (with the late peer)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM work WHERE state = 'leased' AND deadline <= ?", (now,)
            ).fetchall()
            for row in rows:
                self._requeue(_row(row), f"lease expired on {row['peer']}", now)
        return [_row(r) for r in rows]

    def release(self, peer: str, *, now: float, why: str) -> list[WorkUnit]:
        """Take back every lease of a node that left or was revoked."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM work WHERE state = 'leased' AND peer = ?", (peer,)
            ).fetchall()
            for row in rows:
                self._requeue(_row(row), why, now)
        return [_row(r) for r in rows]

    def _requeue(self, unit: WorkUnit, why: str, now: float) -> None:
        state = "queued" if unit.attempt < unit.max_attempts else "failed"
        self._db.execute(
            "UPDATE work SET state = ?, peer = NULL, deadline = NULL, error = ?, updated_at = ? WHERE id = ?",
            (state, why, now, unit.id),
        )

    # ------------------------------------------------------------ join-token nonces

    def redeem_nonce(self, nonce: str, peer: str, *, now: float) -> str | None:
        """Record a token nonce as used; None if new, else the peer that redeemed it before."""
        with self._lock:
            row = self._db.execute("SELECT peer FROM redeemed_nonces WHERE nonce = ?", (nonce,)).fetchone()
            if row is not None:
                return str(row["peer"])
            self._db.execute(
                "INSERT INTO redeemed_nonces (nonce, peer, redeemed_at) VALUES (?, ?, ?)", (nonce, peer, now)
            )
        return None
