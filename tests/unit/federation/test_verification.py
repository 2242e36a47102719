"""Verification: adaptive replication catches each adversary early, never penalises honest nodes, and
costs far less than full replication; the credit ledger proves itself offline."""

from __future__ import annotations

import random

import pytest

from park.core.errors import InvalidError
from park.core.resources import NodeCapabilities
from park.federation.apps import sha256_chain
from park.federation.identity import Identity
from park.federation.verification.engine import VerificationPolicy, Verifier, WorkType, exact
from park.federation.verification.ledger import Ledger, SignedEntry, verify_chain
from park.federation.verification.simulate import SimNode, simulate
from park.federation.verification.trust import TrustBook
from park.federation.wire import digest
from park.federation.work import WorkQueue

CHAIN = WorkType(app="sha256-chain", compare=exact, credit_cap=lambda payload: 5.0)
ADVERSARIES = [
    ("random", 1.0),
    ("lazy", 1.0),
    ("cheap", 0.3),
    ("replayer", 1.0),
    ("colluder", 1.0),
    ("colluder", 1.0),
]


def _run(mode: str, tasks: int = 400, seed: int = 3) -> tuple[list[SimNode], float, int]:
    nodes = [SimNode(f"honest-{i}", "honest") for i in range(10)]
    nodes += [SimNode(f"{b}-{i}", b, bad_rate=r) for i, (b, r) in enumerate(ADVERSARIES)]
    outcome = simulate(
        nodes,
        tasks=tasks,
        policy=VerificationPolicy(mode=mode),  # type: ignore[arg-type]
        work_type=CHAIN,
        make_payload=lambda i: {"seed": f"s{i}", "rounds": 1},
        answer=sha256_chain,
        seed=seed,
    )
    return nodes, outcome.overhead(), outcome.accepted_bad


def test_adaptive_replication_catches_every_adversary_and_spares_honest_nodes() -> None:
    nodes, overhead, accepted_bad = _run("adaptive")
    assert accepted_bad == 0
    for node in nodes:
        if node.behaviour == "honest":
            assert node.penalised == 0 and node.revoked_after is None, node
        else:
            assert node.bad > 0 and node.bad_caught == node.bad, node
            assert node.caught_in_first_20 == node.bad_in_first_20
            assert node.revoked_after is not None and node.revoked_after <= 20, node
    _, full_overhead, _ = _run("full")
    assert overhead < full_overhead / 2  # the whole run, bootstrap included


def test_a_colluding_pair_cannot_carry_a_vote_among_untrusted_nodes() -> None:
    queue = WorkQueue()
    trust = TrustBook(queue.db, queue.lock, trust_after=20)
    ledger = Ledger(queue.db, queue.lock, Identity.generate())
    verifier = Verifier(
        queue, trust=trust, ledger=ledger, types={CHAIN.app: CHAIN},
        policy=VerificationPolicy(canary_rate_untrusted=0), rng=random.Random(0),
        online=lambda: {"c1", "c2", "h1", "h2", "h3"},
    )  # fmt: skip
    task = verifier.submit("sha256-chain", {"seed": "x", "rounds": 1}, now=0)
    offer = NodeCapabilities(apps=["sha256-chain"])
    honest, fake = sha256_chain({"seed": "x", "rounds": 1}), {"digest": "f" * 64, "rounds": 1}
    for peer, output in (("c1", fake), ("c2", fake), ("h1", honest), ("h2", honest)):
        unit = queue.lease(peer, offer, now=1)
        assert unit is not None, peer
        queue.complete(peer, unit.id, ok=True, output=output, output_sha256=digest(output), error=None, now=2)
        verifier.on_result(queue.get(unit.id), now=2)
        assert verifier.task(task.id).state == "pending"  # 2 v 0, 2 v 1, 2 v 2: no quorum of three yet
    unit = queue.lease("h3", offer, now=3)
    assert unit is not None
    queue.complete(
        "h3", unit.id, ok=True, output=honest, output_sha256=digest(honest), error=None, now=4, claimed=9
    )
    verifier.on_result(queue.get(unit.id), now=4)
    decided = verifier.task(task.id)
    assert decided.state == "valid" and decided.output == honest
    assert trust.strikes("c1") == trust.strikes("c2") == 1 and trust.strikes("h1") == 0
    (entry,) = verifier.ledger.entries("h3")
    assert entry.entry["claimed"] == 9 and entry.entry["granted"] == 5.0  # claims are capped


def test_trust_grows_with_valid_results_and_one_invalid_resets_it() -> None:
    queue = WorkQueue()
    trust = TrustBook(queue.db, queue.lock, trust_after=3)
    for _ in range(3):
        trust.valid("a", "sha256-chain")
    assert trust.trusted("a", "sha256-chain") and not trust.trusted("a", "embed-text")
    assert trust.invalid("a", "sha256-chain") == 1
    assert not trust.trusted("a", "sha256-chain") and trust.record("a", "sha256-chain").valid == 3


def test_the_ledger_verifies_offline_and_any_edit_breaks_it() -> None:
    queue, gateway, node = WorkQueue(), Identity.generate(), Identity.generate()
    ledger = Ledger(queue.db, queue.lock, gateway)
    for granted in (1.5, 0.0, 2.25):
        ledger.append({"peer": node.peer_id, "workId": "w-x", "granted": granted, "reason": "r"})
    ledger.append({"peer": "someone-else", "granted": 100.0})
    entries = ledger.entries(node.peer_id)
    assert (
        verify_chain(entries, gateway=gateway.peer_id, peer=node.peer_id)
        == 3.75
        == ledger.balance(node.peer_id)
    )
    edited = [
        entries[0],
        SignedEntry({**entries[1].entry, "granted": 50.0}, entries[1].prev, entries[1].hash, entries[1].sig),
    ]
    with pytest.raises(InvalidError, match="entry 2: hash chain broken"):
        verify_chain(edited, gateway=gateway.peer_id)
    with pytest.raises(InvalidError, match="entry 1: sequence 2"):
        verify_chain(entries[1:], gateway=gateway.peer_id)
    with pytest.raises(InvalidError, match="not signed by gateway"):
        verify_chain(entries, gateway=Identity.generate().peer_id)


def test_two_nodes_are_enough_for_a_quorum_when_there_are_only_two() -> None:
    queue = WorkQueue()
    ledger = Ledger(queue.db, queue.lock, Identity.generate())
    verifier = Verifier(
        queue, trust=TrustBook(queue.db, queue.lock, trust_after=20), ledger=ledger, types={CHAIN.app: CHAIN},
        policy=VerificationPolicy(canary_rate_untrusted=0), online=lambda: {"a", "b"},
    )  # fmt: skip
    task = verifier.submit("sha256-chain", {"seed": "y", "rounds": 1}, now=0)
    answer = sha256_chain({"seed": "y", "rounds": 1})
    for peer in ("a", "b"):
        unit = queue.lease(peer, NodeCapabilities(apps=["sha256-chain"]), now=1)
        assert unit is not None
        queue.complete(peer, unit.id, ok=True, output=answer, output_sha256=digest(answer), error=None, now=2)
        verifier.on_result(queue.get(unit.id), now=2)
    assert verifier.task(task.id).state == "valid"
    assert (
        verifier.submit("sha256-chain", {"seed": "y", "rounds": 1}, now=3).id == task.id
    )  # content-addressed


def _fingerprint(mode: str) -> tuple[object, ...]:
    nodes = [SimNode(f"honest-{i}", "honest") for i in range(6)]
    nodes += [SimNode("cheap", "cheap", bad_rate=0.3), SimNode("turncoat", "turncoat", 0.3, honest_for=15)]
    outcome = simulate(
        nodes, tasks=150, policy=VerificationPolicy(mode=mode, trust_after=5),  # type: ignore[arg-type]
        work_type=CHAIN, make_payload=lambda i: {"seed": f"f{i}", "rounds": 1}, answer=sha256_chain, seed=5,
    )  # fmt: skip
    per_node = [(n.units, n.bad, n.bad_caught, n.penalised, n.revoked_after, n.first_bad_at) for n in nodes]
    return outcome.useful, outcome.extra, outcome.accepted_bad, outcome.steady, per_node


@pytest.mark.parametrize("mode", ["adaptive", "full"])
def test_a_turncoat_cheats_only_after_its_honest_run(mode: str) -> None:
    turncoat = _fingerprint(mode)[-1][-1]  # type: ignore[index]
    assert turncoat[1] > 0 and turncoat[5] > 15  # honest for its first 15 units, then bad now and then
