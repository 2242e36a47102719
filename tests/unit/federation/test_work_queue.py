"""The work queue: leases, heartbeats, expiry, results bound to the lease holder, persistence."""

from __future__ import annotations

from pathlib import Path

from park.core.resources import NodeCapabilities
from park.federation.wire import digest
from park.federation.work import WorkQueue

CPU = NodeCapabilities(cpus=1, apps=["sha256-chain"])
A, B = "12D3KooWA", "12D3KooWB"


def test_a_lease_goes_to_one_node_and_only_its_result_counts() -> None:
    queue = WorkQueue(default_lease_s=10)
    unit = queue.submit("sha256-chain", {"seed": "s", "rounds": 1}, now=0)
    leased = queue.lease(A, CPU, now=1)
    assert leased is not None and leased.id == unit.id and leased.deadline == 11
    assert queue.lease(B, CPU, now=1) is None
    output = {"digest": "d"}
    stolen = queue.complete(
        B, unit.id, ok=True, output=output, output_sha256=digest(output), error=None, now=2
    )
    assert not stolen.accepted and "not leased to" in stolen.message
    forged = queue.complete(A, unit.id, ok=True, output=output, output_sha256="0" * 64, error=None, now=2)
    assert not forged.accepted and "sha256" in forged.message
    done = queue.complete(A, unit.id, ok=True, output=output, output_sha256=digest(output), error=None, now=3)
    assert done.accepted and done.unit is not None and done.unit.state == "done"
    assert queue.get(unit.id).completed_by == A


def test_heartbeats_extend_and_expiry_requeues_to_another_node() -> None:
    queue = WorkQueue(default_lease_s=10)
    unit = queue.submit("sha256-chain", {"seed": "s", "rounds": 1}, now=0)
    queue.lease(A, CPU, now=0)
    assert queue.heartbeat(A, [unit.id, "w-" + "0" * 16], now=8) == ([unit.id], ["w-" + "0" * 16])
    assert queue.expire(now=17) == []
    expired = queue.expire(now=18)
    assert [u.id for u in expired] == [unit.id]
    again = queue.lease(B, CPU, now=19)
    assert again is not None and again.attempt == 2 and set(again.tried_by) == {A, B}
    assert queue.heartbeat(A, [unit.id], now=19) == ([], [unit.id])


def test_units_fail_after_max_attempts_and_release_requeues() -> None:
    queue = WorkQueue(default_lease_s=10)
    unit = queue.submit("sha256-chain", {"seed": "s", "rounds": 1}, now=0, max_attempts=2)
    queue.lease(A, CPU, now=0)
    assert [u.id for u in queue.release(A, now=1, why="left")] == [unit.id]
    queue.lease(B, CPU, now=2)
    queue.complete(B, unit.id, ok=False, output={}, output_sha256=digest({}), error="boom", now=3)
    failed = queue.get(unit.id)
    assert (failed.state, failed.error, failed.attempt) == ("failed", "boom", 2)


def test_caps_decide_who_may_take_a_unit() -> None:
    queue = WorkQueue()
    queue.submit("sha256-chain", {"seed": "s", "rounds": 1}, now=0, needs=NodeCapabilities(gpus=1))
    assert queue.lease(A, CPU, now=1) is None
    assert queue.lease(A, NodeCapabilities(gpus=1, cpus=1, apps=["sha256-chain"]), now=1) is not None
    queue.submit("probe", {}, now=2)
    assert queue.lease(B, CPU, now=3) is None  # CPU does not list the probe app


def test_the_queue_survives_a_restart_and_nonces_are_single_use(tmp_path: Path) -> None:
    queue = WorkQueue(tmp_path / "federation.db")
    unit = queue.submit("sha256-chain", {"seed": "s", "rounds": 1}, now=0)
    queue.lease(A, CPU, now=1)
    assert queue.redeem_nonce("n" * 32, A, now=1) is None
    queue.close()
    reopened = WorkQueue(tmp_path / "federation.db")
    assert reopened.get(unit.id).state == "leased"
    assert reopened.redeem_nonce("n" * 32, B, now=2) == A
    assert reopened.counts() == {"leased": 1}
