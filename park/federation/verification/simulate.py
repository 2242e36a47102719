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
- `colluder`: a wrong answer every colluder computes the same way, so colluders always agree.
A behaviour can cheat on only a fraction of units (`bad_rate`).
"""

from __future__ import annotations

import hashlib
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


@dataclass
class Outcome:
    nodes: list[SimNode]
    useful: int
    extra: int
    validations: int
    accepted_bad: int
    tasks: int

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
    bad_units: list[tuple[SimNode, str, bool]] = []  # (node, work id, within its first 20 units)
    clock = float(tasks)
    while verifier.count(state="pending"):
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
            cheats = node.behaviour != "honest" and rng.random() < node.bad_rate
            output = _cheat(node, unit.payload, honest, last_honest, rng) if cheats else honest
            node.units += 1
            if digest(output) != digest(honest):
                node.bad += 1
                bad_units.append((node, unit.id, node.units <= 20))
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
    _score(nodes, verifier, bad_units)
    accepted_bad = sum(
        1
        for task in verifier.tasks(state="valid")
        if task.output is not None and digest(task.output) != digest(honest_answers[digest(task.payload)])
    )
    tally = verifier.tally
    return Outcome(
        nodes=nodes, useful=tally.useful, extra=tally.extra, validations=tally.validations,
        accepted_bad=accepted_bad, tasks=tasks,
    )  # fmt: skip


def _score(nodes: list[SimNode], verifier: Verifier, bad_units: list[tuple[SimNode, str, bool]]) -> None:
    credited: set[str] = set()
    for node in nodes:
        for signed in verifier.ledger.entries(node.peer, limit=1_000_000):
            if signed.entry["granted"] > 0:
                credited.add(str(signed.entry["workId"]))
            else:
                node.penalised += 1
    for node, work_id, first in bad_units:
        caught = work_id not in credited
        node.bad_caught += caught
        node.bad_in_first_20 += first
        node.caught_in_first_20 += first and caught
