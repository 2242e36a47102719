"""Verification: which results are checked, how, and what a verdict does to trust, credit and the mesh.

A *task* is one piece of work whose result the platform will use; its *units* are the leases nodes run.

- A node that is not yet trusted for a work type (fewer than `trust_after` valid results in a row) has
  every result checked; a trusted node's results are spot-checked at `spot_check_rate`.
- Checked how: work types with a cheap validator (an inference commitment, a re-scored sample) are
  validated by the gateway; the others are replicated on another node — a trusted one when there is
  one — and the results compared (exact, or within the type's tolerance). Two agreeing results make a
  quorum when a trusted node is among them, three when none is (so a colluding pair cannot carry a
  vote alone); a disagreement or an inconclusive comparison asks for another replica, up to `max_replicas`.
- Canaries: units whose answer is already known (the payload of a task validated earlier, which this
  node never saw), placed for one node like any other unit, so a node cannot tell them apart.
- Verdicts: valid → credit (the claim, capped per work type) and one more in the node's run; invalid →
  no credit, the run starts over, a strike; `strikes_to_revoke` strikes revoke the node across the mesh.
- `mode="full"` is the baseline: every task replicated twice, whatever the node's record.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from park.core.errors import InvalidError, NotFoundError
from park.core.resources import NodeCapabilities
from park.federation.verification.ledger import Ledger
from park.federation.verification.trust import TrustBook
from park.federation.wire import digest
from park.federation.work import WorkQueue, WorkUnit

Verdict = Literal["match", "mismatch", "inconclusive"]
UNCHECKED = "trusted node, not spot-checked"
TaskState = Literal["pending", "valid", "failed"]


class CheckResult(Protocol):
    @property
    def verdict(self) -> Verdict: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True)
class Checked:
    verdict: Verdict
    detail: str = ""


Compare = Callable[[dict[str, Any], dict[str, Any]], CheckResult]
Validate = Callable[[dict[str, Any], dict[str, Any]], CheckResult]


@dataclass(frozen=True)
class WorkType:
    """How one app's results are checked, and the most credit one of its results may claim."""

    app: str
    compare: Compare
    validate: Validate | None = None  # the gateway checks a result alone (no replica needed)
    sanity: Validate | None = None  # a free check of every result alone (a lazy result fails it)
    credit_cap: Callable[[dict[str, Any]], float] = lambda payload: 60.0


@dataclass(frozen=True)
class VerificationPolicy:
    mode: Literal["adaptive", "full"] = "adaptive"
    trust_after: int = 20
    spot_check_rate: float = 0.05
    canary_rate_untrusted: float = 0.1
    canary_rate_trusted: float = 0.02
    max_replicas: int = 6
    untrusted_quorum: int = 3
    strikes_to_revoke: int = 2


@dataclass(frozen=True)
class Task:
    id: str
    app: str
    payload: dict[str, Any]
    kind: Literal["real", "canary"]
    state: TaskState
    output: dict[str, Any] | None
    detail: str
    created_at: float
    decided_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "kind": self.kind,
            "state": self.state,
            "output": self.output,
            "detail": self.detail,
            "createdAt": self.created_at,
            "decidedAt": self.decided_at,
        }


@dataclass
class Tally:
    """What verification cost and caught, for benchmarks and `GET /v1/federation`."""

    useful: int = 0  # units whose result a task used
    extra: int = 0  # replicas and canaries beyond that
    validations: int = 0  # results checked by the gateway itself
    valid: int = 0
    invalid: int = 0
    by_peer_invalid: dict[str, int] = field(default_factory=dict)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    payload TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    output TEXT,
    expected TEXT,
    detail TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    decided_at REAL,
    source_peers TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (app, kind, state);
"""


class Verifier:
    def __init__(
        self,
        queue: WorkQueue,
        *,
        trust: TrustBook,
        ledger: Ledger,
        types: dict[str, WorkType],
        policy: VerificationPolicy,
        rng: random.Random | None = None,
        online: Callable[[], set[str]] = set,
        on_revoke: Callable[[str, str], None] = lambda peer, why: None,
        on_credit: Callable[[str, float], None] = lambda peer, granted: None,
        node_name: Callable[[str], str | None] = lambda peer: None,
    ) -> None:
        self.queue, self.trust, self.ledger, self.types, self.policy = queue, trust, ledger, types, policy
        self.rng = rng or random.Random(secrets.randbits(64))
        self.online, self.on_revoke, self.on_credit, self.node_name = online, on_revoke, on_credit, node_name
        self.tally = Tally()
        self._db: sqlite3.Connection = queue.db
        self._lock: threading.Lock = queue.lock
        self._decide = threading.RLock()  # one verdict at a time: results arrive from many sessions
        with self._lock:
            self._db.executescript(_SCHEMA)

    # ------------------------------------------------------------ tasks

    def submit(
        self, app: str, payload: dict[str, Any], *, now: float, needs: NodeCapabilities | None = None
    ) -> Task:
        if app not in self.types:
            raise InvalidError(
                f"app {app!r} has no verification; verified apps: {', '.join(sorted(self.types))}"
            )
        # Content-addressed: the same work is the same task, so a client that retries (or restarts) finds
        # it pending or done instead of paying for it twice; a failed one is tried again.
        task_id = "t-" + digest({"app": app, "payload": payload})[:24]
        with self._decide:
            try:
                existing = self.task(task_id)
            except NotFoundError:
                self._insert(task_id, app, payload, kind="real", expected=None, now=now)
            else:
                if existing.state != "failed":
                    return existing
                self._set_state(task_id, "pending", output=None, detail="submitted again", now=now)
            self.queue.submit(app, payload, now=now, needs=needs, task_id=task_id)
        return self.task(task_id)

    def _insert(
        self,
        task_id: str,
        app: str,
        payload: dict[str, Any],
        *,
        kind: str,
        expected: Any,
        now: float,
        sources: list[str] | None = None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO tasks (id, app, payload, kind, state, expected, created_at, source_peers)"
                " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
                (
                    task_id,
                    app,
                    json.dumps(payload),
                    kind,
                    json.dumps(expected) if expected is not None else None,
                    now,
                    json.dumps(sources or []),
                ),
            )

    def task(self, task_id: str) -> Task:
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no task {task_id!r}")
        return self._task(row)

    def tasks(self, *, state: TaskState | None = None, kind: str = "real", limit: int = 1000) -> list[Task]:
        query, args = "SELECT * FROM tasks WHERE kind = ?", [kind]  # type: tuple[str, list[Any]]
        if state is not None:
            query, args = query + " AND state = ?", [*args, state]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at, id LIMIT ?", (*args, limit)).fetchall()
        return [self._task(r) for r in rows]

    def count(self, *, state: TaskState, kind: str = "real") -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM tasks WHERE kind = ? AND state = ?", (kind, state)
            ).fetchone()
        return int(row[0])

    @staticmethod
    def _task(row: sqlite3.Row) -> Task:
        return Task(
            id=row["id"],
            app=row["app"],
            payload=json.loads(row["payload"]),
            kind=row["kind"],
            state=row["state"],
            output=json.loads(row["output"]) if row["output"] is not None else None,
            detail=row["detail"],
            created_at=row["created_at"],
            decided_at=row["decided_at"],
        )

    def _units(self, task_id: str) -> list[WorkUnit]:
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM work WHERE task_id = ?", (task_id,))]
        return [self.queue.get(i) for i in ids]

    def _expected(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT expected FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def _set_state(
        self, task_id: str, state: TaskState, *, output: dict[str, Any] | None, detail: str, now: float
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE tasks SET state = ?, output = ?, detail = ?, decided_at = ? WHERE id = ?",
                (state, json.dumps(output) if output is not None else None, detail, now, task_id),
            )

    # ------------------------------------------------------------ canaries

    def maybe_canary(self, peer: str, offer: NodeCapabilities, *, now: float) -> WorkUnit | None:
        """Perhaps place a known-answer unit for this node, ahead of its other work."""
        if self.policy.mode == "full":
            return None
        apps = [app for app in offer.apps if app in self.types]
        if not apps:
            return None
        app = self.rng.choice(apps)
        rate = (
            self.policy.canary_rate_trusted
            if self.trust.trusted(peer, app)
            else self.policy.canary_rate_untrusted
        )
        if self.rng.random() >= rate:
            return None
        with self._lock:
            rows = self._db.execute(
                "SELECT id, payload, output, source_peers FROM tasks WHERE app = ? AND kind = 'real'"
                " AND state = 'valid' AND detail != ? ORDER BY decided_at DESC LIMIT 200",
                (app, UNCHECKED),
            ).fetchall()
        # Only answers that were checked (a quorum, a validation) become canaries: an unchecked answer
        # from a trusted node that turned could be wrong, and would then strike honest nodes.
        known = [r for r in rows if peer not in json.loads(r["source_peers"])]
        if not known:
            return None
        source = self.rng.choice(known)
        task_id = f"t-{secrets.token_hex(12)}"
        self._insert(
            task_id,
            app,
            json.loads(source["payload"]),
            kind="canary",
            expected=json.loads(source["output"]),
            now=now,
        )
        return self.queue.submit(
            app, json.loads(source["payload"]), now=now, task_id=task_id, only_peers=[peer]
        )

    # ------------------------------------------------------------ verdicts

    def on_result(self, unit: WorkUnit, *, now: float) -> None:
        """A unit of a task finished (done, or failed for good): decide what it means."""
        if unit.task_id is None:
            return
        with self._decide:
            task = self.task(unit.task_id)
            if unit.state == "failed":
                self._on_failed_unit(task, now=now)
                return
            if unit.state != "done" or unit.completed_by is None or unit.output is None:
                return
            self._remember_source(task.id, unit.completed_by)
            if task.kind == "canary":
                self._judge_canary(task, unit, now=now)
            elif task.state == "pending":
                self._judge(task, now=now)

    def _judged(self, unit: WorkUnit) -> bool:
        """Whether this unit already has its verdict in the ledger."""
        if unit.completed_by is None:
            return False
        return self.ledger.has_entry(unit.completed_by, unit.id)

    def _remember_source(self, task_id: str, peer: str) -> None:
        with self._lock:
            row = self._db.execute("SELECT source_peers FROM tasks WHERE id = ?", (task_id,)).fetchone()
            peers = sorted({*json.loads(row[0]), peer})
            self._db.execute("UPDATE tasks SET source_peers = ? WHERE id = ?", (json.dumps(peers), task_id))

    def _on_failed_unit(self, task: Task, *, now: float) -> None:
        if task.state != "pending":
            return
        if not any(u.state in ("queued", "leased") for u in self._units(task.id)):
            self._set_state(task.id, "failed", output=None, detail="no node finished it", now=now)

    def _judge_canary(self, task: Task, unit: WorkUnit, *, now: float) -> None:
        expected = self._expected(task.id)
        assert expected is not None and unit.output is not None and unit.completed_by is not None
        work_type = self.types[task.app]
        # Validated types are checked on their own terms (bit-exact equality is not expected of them).
        check = (
            work_type.validate(task.payload, unit.output)
            if work_type.validate is not None
            else work_type.compare(expected, unit.output)
        )
        self.tally.extra += 1
        if check.verdict == "match":
            self._valid(unit, task, now=now, reason="canary answered right")
        elif check.verdict == "mismatch":
            self._invalid(unit, task, detail=f"canary answered wrong: {check.detail}", now=now)
        self._set_state(
            task.id,
            "valid" if check.verdict == "match" else "failed",
            output=unit.output,
            detail=check.detail,
            now=now,
        )

    def _judge(self, task: Task, *, now: float) -> None:
        work_type = self.types[task.app]
        done = [u for u in self._units(task.id) if u.state == "done"]
        if work_type.sanity is not None:
            insane = [u for u in done if work_type.sanity(task.payload, u.output or {}).verdict == "mismatch"]
            for unit in insane:
                if not self._judged(unit):
                    self._invalid(unit, task, detail="failed the sanity check", now=now)
            done = [u for u in done if u not in insane]
            if not done:
                self._replicate(task, insane, now=now)
                return
        if work_type.validate is not None:
            self._judge_by_validation(task, done[-1], work_type, now=now)
            return
        if len(done) == 1:
            first = done[0]
            assert first.completed_by is not None
            if (
                self.policy.mode == "adaptive"
                and self.trust.trusted(first.completed_by, task.app)
                and self.rng.random() >= self.policy.spot_check_rate
            ):
                self.tally.useful += 1
                self._accept(task, first, [first], now=now, detail=UNCHECKED)
                return
            self._replicate(task, done, now=now)
            return
        self._quorum(task, done, work_type, now=now)

    def _judge_by_validation(self, task: Task, unit: WorkUnit, work_type: WorkType, *, now: float) -> None:
        assert work_type.validate is not None and unit.output is not None and unit.completed_by is not None
        trusted = self.trust.trusted(unit.completed_by, task.app)
        checked = self.policy.mode == "full" or not trusted or self.rng.random() < self.policy.spot_check_rate
        self.tally.useful += 1
        if not checked:
            self._accept(task, unit, [unit], now=now, detail=UNCHECKED)
            return
        self.tally.validations += 1
        check = work_type.validate(task.payload, unit.output)
        if check.verdict == "match":
            self._accept(task, unit, [unit], now=now, detail=f"validated: {check.detail}")
        elif check.verdict == "mismatch":
            self._invalid(unit, task, detail=f"validation failed: {check.detail}", now=now)
            self._retry(task, [unit], now=now)
        else:
            self._retry(task, [unit], now=now)

    def _quorum(self, task: Task, done: list[WorkUnit], work_type: WorkType, *, now: float) -> None:
        groups: list[list[WorkUnit]] = []
        for unit in done:
            assert unit.output is not None
            for group in groups:
                assert group[0].output is not None
                if work_type.compare(group[0].output, unit.output).verdict == "match":
                    group.append(unit)
                    break
            else:
                groups.append([unit])
        winners = max(groups, key=len)
        unique = sum(len(g) == len(winners) for g in groups) == 1
        if unique and len(winners) >= self._quorum_size(task.app, winners):
            self.tally.useful += 1
            self.tally.extra += len(done) - 1
            self._accept(
                task, winners[0], winners, now=now, detail=f"quorum of {len(winners)} of {len(done)}"
            )
            for unit in done:
                if unit not in winners:
                    self._invalid(unit, task, detail="outvoted by a quorum", now=now)
            return
        self._replicate(task, done, now=now)

    def _quorum_size(self, app: str, agreeing: list[WorkUnit]) -> int:
        """Two agreeing results when a trusted node is among them; three among untrusted nodes only, so
        that a colluding pair cannot outvote the honest majority on its own."""
        if self.policy.mode == "full" or any(self.trust.trusted(u.completed_by or "", app) for u in agreeing):
            return 2
        # A federation of two cannot find a third opinion: two agreeing nodes are all there is.
        voters = self.online() | {u.completed_by for u in agreeing if u.completed_by is not None}
        return max(2, min(self.policy.untrusted_quorum, len(voters)))

    def _replicate(self, task: Task, done: list[WorkUnit], *, now: float) -> None:
        units = self._units(task.id)
        if len(units) >= self.policy.max_replicas:
            self.tally.extra += len(done)
            self._set_state(
                task.id, "failed", output=None, detail=f"no quorum after {len(units)} replicas", now=now
            )
            return
        if any(u.state in ("queued", "leased") for u in units):
            return
        involved = sorted({p for u in units for p in u.tried_by})
        trusted = (self.trust.trusted_peers(task.app) & self.online()) - set(involved)
        self.queue.submit(  # queued as of the task's creation: replicas finish started tasks first
            task.app,
            task.payload,
            now=task.created_at,
            task_id=task.id,
            exclude_peers=involved,
            only_peers=sorted(trusted) if trusted else None,
        )

    def _retry(self, task: Task, done: list[WorkUnit], *, now: float) -> None:
        """A validated result that failed or was inconclusive: run the task again on someone else."""
        self._replicate(task, done, now=now)

    def _accept(
        self, task: Task, chosen: WorkUnit, agreeing: list[WorkUnit], *, now: float, detail: str
    ) -> None:
        self._set_state(task.id, "valid", output=chosen.output, detail=detail, now=now)
        for unit in agreeing:
            self._valid(unit, task, now=now, reason=detail)

    # ------------------------------------------------------------ consequences

    def _valid(self, unit: WorkUnit, task: Task, *, now: float, reason: str) -> None:
        assert unit.completed_by is not None
        self.tally.valid += 1
        self.trust.valid(unit.completed_by, task.app)
        cap = self.types[task.app].credit_cap(task.payload)
        granted = round(min(max(unit.claimed, 0.0), cap), 6)
        # "valid" whatever decided it: a node must not learn from its ledger when it is trusted.
        self.ledger.append(self._entry(unit, task, granted=granted, reason="valid", now=now))
        self.on_credit(unit.completed_by, granted)

    def _invalid(self, unit: WorkUnit, task: Task, *, detail: str, now: float) -> None:
        assert unit.completed_by is not None
        peer = unit.completed_by
        self.tally.invalid += 1
        self.tally.by_peer_invalid[peer] = self.tally.by_peer_invalid.get(peer, 0) + 1
        strikes = self.trust.invalid(peer, task.app)
        self.ledger.append(self._entry(unit, task, granted=0.0, reason=f"invalid: {detail}", now=now))
        if strikes >= self.policy.strikes_to_revoke:
            self.on_revoke(peer, f"{strikes} invalid results (last: {detail})")
            self._recheck(peer, now=now)

    def _recheck(self, peer: str, *, now: float) -> None:
        """A revoked node's results that were accepted unchecked go back to pending and are checked."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT t.id FROM tasks t JOIN work w ON w.task_id = t.id"
                " WHERE t.kind = 'real' AND t.state = 'valid' AND t.detail = ? AND w.completed_by = ?",
                (UNCHECKED, peer),
            ).fetchall()
        for (task_id,) in rows:
            self.tally.useful -= 1  # its unit is counted again when the recheck decides
            self._set_state(
                task_id, "pending", output=None, detail=f"rechecking: {peer} was revoked", now=now
            )
            task = self.task(task_id)
            self._replicate(task, [u for u in self._units(task_id) if u.state == "done"], now=now)

    def _entry(
        self, unit: WorkUnit, task: Task, *, granted: float, reason: str, now: float
    ) -> dict[str, Any]:
        assert unit.completed_by is not None
        return {
            "peer": unit.completed_by,
            "node": self.node_name(unit.completed_by),
            "workId": unit.id,
            "taskId": task.id,
            "app": task.app,
            "outputSha256": unit.output_sha256,
            "claimed": round(unit.claimed, 6),
            "granted": granted,
            "reason": reason[:300],
            "at": round(now, 3),
        }


def exact(a: dict[str, Any], b: dict[str, Any]) -> Checked:
    """Deterministic apps: the outputs are the same document, or they disagree."""
    return Checked("match") if digest(a) == digest(b) else Checked("mismatch", "outputs differ")
