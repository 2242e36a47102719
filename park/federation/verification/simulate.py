"""Verification under attack, without a network: nodes with behaviours lease, answer and are judged by
the real `Verifier` over a real (in-memory) work queue. Used by the tests and `bench/verification_bench.py`
to measure detection and overhead per adversary, and to tune a `VerificationPolicy` before deploying it.

Behaviours (what a node returns for a unit, given the honest answer):
- `honest`: the honest answer;
- `random`: garbage of the right shape (random embeddings);
- `lazy`: the answer it gave for an earlier unit, whatever the payload (duplicated / cached results);
- `cheap`: a wrong but plausible answer derived from the payload (a smaller model: fewer rounds);
- `replayer`: another node's answer to another payload (a copied, signed result cannot be re-signed,
  so the best it can do is reuse someone's output);
- `colluder`: a wrong answer every colluder computes the same way, so colluders always agree;
- `turncoat`: a wrong but plausible answer of its own (no other node computes it), meant to be given
  `honest_for`: a node that builds up trust and then cheats now and then.
A behaviour can cheat on only a fraction of units (`bad_rate`), and only after its first `honest_for`
units (any behaviour: before that it answers honestly).

`Outcome.steady` is the tally from the moment `steady_from` of the tasks were decided to the end: with
the default (0.5), the second half of the run, which measures what verification costs once the bootstrap
(untrusted nodes checked on every result, adversaries caught and revoked) is over.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from park.core.resources import NodeCapabilities
from park.federation.identity import Identity
from park.federation.verification.engine import VerificationPolicy, Verifier, WorkType
from park.federation.verification.ledger import Ledger
from park.federation.verification.trust import TrustBook
from park.federation.wire import digest
from park.federation.work import WorkQueue

Answer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class SimNode:
    name: str
    behaviour: str
    bad_rate: float = 1.0
    peer: str = field(default_factory=lambda: Identity.generate().peer_id)
    units: int = 0
    bad: int = 0
    bad_caught: int = 0
    bad_in_first_20: int = 0
    caught_in_first_20: int = 0
    penalised: int = 0
    revoked_after: int | None = None
    last_output: dict[str, Any] | None = None
    honest_for: int = 0  # answers honestly for its first `honest_for` units, whatever its behaviour
    bad_accepted: int = 0  # its bad results that became a task's output
    first_bad_at: int | None = None  # its unit count at its first bad result
    first_caught_at: int | None = None  # ... at its first bad result that earned no credit
    wrongly_penalised: int = 0  # right answers judged invalid (a canary whose expected answer is wrong)


@dataclass(frozen=True)
class Window:
    """What the tally grew by over part of a run: from when `decided_at_start` tasks were decided."""

    decided_at_start: int
    trusted_at_start: int  # nodes trusted for the work type when the window opened
    revoked_at_start: int
    useful: int
    extra: int
    validations: int
    units: int  # units the nodes ran inside the window
    accepted_bad: int  # tasks decided inside the window whose output is wrong

    def overhead(self, validation_cost: float = 0.0) -> float:
        return (self.extra + validation_cost * self.validations) / max(self.useful, 1)


@dataclass
class Outcome:
    nodes: list[SimNode]
    useful: int
    extra: int
    validations: int
    accepted_bad: int
    tasks: int
    steady: Window | None = None
    failed: int = 0  # tasks that ended without a result (no quorum after `max_replicas`)
    undecided: int = 0  # tasks still pending when nobody could run anything more
    poisoned_canaries: int = 0  # canaries whose expected answer (a task's accepted output) is wrong

    def overhead(self, validation_cost: float = 0.0) -> float:
        """Extra compute over useful compute; a validation costs `validation_cost` of a unit."""
        return (self.extra + validation_cost * self.validations) / max(self.useful, 1)


def _cheat(
    node: SimNode,
    payload: dict[str, Any],
    honest: dict[str, Any],
    last_honest: dict[str, Any] | None,
    rng: random.Random,
) -> dict[str, Any]:
    if node.behaviour == "random":
        return {key: hashlib.sha256(rng.randbytes(16)).hexdigest() for key in honest}
    if node.behaviour == "lazy":
        return node.last_output or {key: "0" * 64 for key in honest}
    if node.behaviour == "cheap":
        seed = digest({"smaller": payload})
        return {key: seed for key in honest}
    if node.behaviour == "replayer":
        return last_honest or {key: "1" * 64 for key in honest}
    if node.behaviour == "colluder":
        return {key: digest({"collusion": payload}) for key in honest}
    if node.behaviour == "turncoat":
        wrong = digest({"turncoat": node.name, "payload": payload})
        return {key: wrong if isinstance(value, str) else value for key, value in honest.items()}
    raise ValueError(f"unknown behaviour {node.behaviour!r}")


def simulate(
    nodes: list[SimNode],
    *,
    tasks: int,
    policy: VerificationPolicy,
    work_type: WorkType,
    make_payload: Callable[[int], dict[str, Any]],
    answer: Answer,
    seed: int = 0,
    steady_from: float = 0.5,
) -> Outcome:
    """Run `tasks` tasks through the nodes until every task is decided (or nobody can run the rest).

    A bad result counts as caught when it earns no credit: judged invalid, outvoted, or left unused.
    """
    rng = random.Random(seed)
    queue = WorkQueue(default_lease_s=1e9)
    revoked: set[str] = set()
    by_peer = {n.peer: n for n in nodes}

    def revoke(peer: str, why: str) -> None:
        revoked.add(peer)
        by_peer[peer].revoked_after = by_peer[peer].units

    verifier = Verifier(
        queue,
        trust=TrustBook(queue.db, queue.lock, trust_after=policy.trust_after),
        ledger=Ledger(queue.db, queue.lock, Identity.generate()),
        types={work_type.app: work_type},
        policy=policy,
        rng=rng,
        online=lambda: {n.peer for n in nodes if n.peer not in revoked},
        on_revoke=revoke,
    )
    honest_answers: dict[str, dict[str, Any]] = {}
    offer = NodeCapabilities(cpus=1, apps=[work_type.app])
    for index in range(tasks):
        verifier.submit(work_type.app, make_payload(index), now=index)
    last_honest: dict[str, Any] | None = None
    bad_units: list[_Bad] = []
    clock = float(tasks)
    start: _Mark | None = None
    while pending := verifier.count(state="pending"):
        if start is None and tasks - pending >= steady_from * tasks:
            start = _Mark.take(verifier, nodes, work_type.app, clock=clock, decided=tasks - pending)
        worked = False
        for node in rng.sample(nodes, len(nodes)):
            if node.peer in revoked:
                continue
            clock += 1
            verifier.maybe_canary(node.peer, offer, now=clock)
            unit = queue.lease(node.peer, offer, now=clock)
            if unit is None:
                continue
            worked = True
            honest = honest_answers.setdefault(unit.payload_sha256, answer(unit.payload))
            cheats = (
                node.behaviour != "honest" and node.units >= node.honest_for and rng.random() < node.bad_rate
            )
            output = _cheat(node, unit.payload, honest, last_honest, rng) if cheats else honest
            node.units += 1
            if digest(output) != digest(honest):
                node.bad += 1
                if node.first_bad_at is None:
                    node.first_bad_at = node.units
                bad_units.append(_Bad(node, unit.id, node.units, unit.task_id or "", digest(output)))
            queue.complete(
                node.peer, unit.id, ok=True, output=output, output_sha256=digest(output), error=None,
                now=clock, claimed=1.0,
            )  # fmt: skip
            verifier.on_result(queue.get(unit.id), now=clock)
            node.last_output = output
            if node.behaviour == "honest":
                last_honest = output
        if not worked:
            break
    if start is None:  # the run ended before `steady_from` of it was decided: an empty window
        start = _Mark.take(verifier, nodes, work_type.app, clock=clock, decided=tasks - pending)
    return _outcome(nodes, verifier, tasks, honest_answers, bad_units, start)


def _outcome(
    nodes: list[SimNode],
    verifier: Verifier,
    tasks: int,
    honest_answers: dict[str, dict[str, Any]],
    bad_units: list[_Bad],
    start: _Mark,
) -> Outcome:
    _score(nodes, verifier, bad_units)
    wrong = {
        task.id: task
        for task in verifier.tasks(state="valid", limit=tasks)
        if task.output is not None and digest(task.output) != digest(honest_answers[digest(task.payload)])
    }
    for bad in bad_units:  # the node(s) whose wrong answer became the task's output
        chosen = wrong.get(bad.task_id)
        bad.node.bad_accepted += chosen is not None and digest(chosen.output) == bad.output_digest
    with verifier.queue.lock:
        canaries = verifier.queue.db.execute(
            "SELECT payload, expected FROM tasks WHERE kind = 'canary'"
        ).fetchall()
    poisoned = sum(
        digest(json.loads(expected)) != digest(honest_answers[digest(json.loads(payload))])
        for payload, expected in canaries
    )
    tally = verifier.tally
    steady = Window(
        decided_at_start=start.decided, trusted_at_start=start.trusted, revoked_at_start=start.revoked,
        useful=tally.useful - start.useful, extra=tally.extra - start.extra,
        validations=tally.validations - start.validations, units=sum(n.units for n in nodes) - start.units,
        accepted_bad=sum((t.decided_at or 0) > start.clock for t in wrong.values()),
    )  # fmt: skip
    return Outcome(
        nodes=nodes, useful=tally.useful, extra=tally.extra, validations=tally.validations,
        accepted_bad=len(wrong), tasks=tasks, steady=steady, failed=verifier.count(state="failed"),
        undecided=verifier.count(state="pending"), poisoned_canaries=poisoned,
    )  # fmt: skip


@dataclass(frozen=True)
class _Mark:
    """The run at the start of the steady-state window."""

    clock: float
    decided: int
    trusted: int
    revoked: int
    useful: int
    extra: int
    validations: int
    units: int

    @classmethod
    def take(cls, verifier: Verifier, nodes: list[SimNode], app: str, *, clock: float, decided: int) -> _Mark:
        tally = verifier.tally
        return cls(
            clock=clock, decided=decided, trusted=len(verifier.trust.trusted_peers(app)),
            revoked=sum(n.revoked_after is not None for n in nodes), useful=tally.useful, extra=tally.extra,
            validations=tally.validations, units=sum(n.units for n in nodes),
        )  # fmt: skip


@dataclass(frozen=True)
class _Bad:
    node: SimNode
    work_id: str
    index: int  # the node's unit count at this result: 1 for its first unit
    task_id: str
    output_digest: str


def _score(nodes: list[SimNode], verifier: Verifier, bad_units: list[_Bad]) -> None:
    credited: set[str] = set()
    bad_ids = {b.work_id for b in bad_units}
    for node in nodes:
        for signed in verifier.ledger.entries(node.peer, limit=1_000_000):
            if signed.entry["granted"] > 0:
                credited.add(str(signed.entry["workId"]))
            else:
                node.penalised += 1
                node.wrongly_penalised += signed.entry["workId"] not in bad_ids
    for bad in bad_units:
        node, first = bad.node, bad.index <= 20
        caught = bad.work_id not in credited
        node.bad_caught += caught
        node.bad_in_first_20 += first
        node.caught_in_first_20 += first and caught
        if caught and node.first_caught_at is None:
            node.first_caught_at = bad.index
