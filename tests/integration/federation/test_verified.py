"""Verified contributions on real libp2p hosts: a cheating node is caught and revoked, honest nodes earn
credit they can verify offline, and every task used carries an honest result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from park.federation.apps import sha256_chain
from park.federation.identity import Identity
from park.federation.messages import Lease, Result
from park.federation.node import EXIT_REVOKED, NodeDaemon, gateway_peer
from park.federation.verification.engine import VerificationPolicy
from park.federation.verification.ledger import SignedEntry, verify_chain
from park.federation.wire import digest
from tests.integration.federation.harness import running_gateway

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


class CheatingNode(NodeDaemon):
    """Skips the work and returns a plausible answer (a lazy or malicious volunteer)."""

    def _result(self, lease: Lease, outcome: dict[str, Any]) -> Result:
        output = {"digest": digest({"skipped": lease.payload}), "rounds": lease.payload["rounds"]}
        return Result(
            work_id=lease.work_id, ok=True, output=output, output_sha256=digest(output), cpu_seconds=0.01
        )


def _synced(gateway: Any, daemon: NodeDaemon) -> bool:
    """The node holds every entry the gateway granted it."""
    local = daemon.paths.ledger_entries()
    return bool(local) and len(local) == len(gateway.federation.ledger.entries(daemon.identity.peer_id))


def test_a_cheater_is_revoked_and_honest_nodes_earn_verifiable_credit(tmp_path: Path) -> None:
    policy = VerificationPolicy(trust_after=3, spot_check_rate=0.2, canary_rate_untrusted=0.2)
    with running_gateway(tmp_path, verification=policy) as gateway:
        honest = [NodeDaemon(gateway.node(f"honest-{i}"), handle_signals=False) for i in range(4)]
        cheater = CheatingNode(gateway.node("cheater"), handle_signals=False)
        payloads = [{"seed": f"task-{i}", "rounds": 2000} for i in range(24)]
        ids = [gateway.federation.submit_task(app="sha256-chain", payload=p, needs=None).id for p in payloads]
        codes: dict[str, int] = {}

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                for daemon in honest:
                    nursery.start_soon(daemon.run)

                async def run_cheater() -> None:
                    codes["cheater"] = await cheater.run()

                nursery.start_soon(run_cheater)
                deadline = trio.current_time() + 150
                while any(gateway.federation.task(i).state == "pending" for i in ids):
                    assert trio.current_time() < deadline, [gateway.federation.task(i).state for i in ids]
                    await trio.sleep(0.2)
                deadline = trio.current_time() + 30  # nodes fetch new entries every 10 s
                while not all(_synced(gateway, d) for d in honest):
                    assert trio.current_time() < deadline, "the nodes' ledgers did not catch up"
                    await trio.sleep(0.2)
                nursery.cancel_scope.cancel()

        trio.run(main)
        for task_id, payload in zip(ids, payloads, strict=True):
            task = gateway.federation.task(task_id)
            assert task.state == "valid" and task.output == sha256_chain(payload), task
        assert gateway.get("cheater").spec.revoked and codes.get("cheater") == EXIT_REVOKED
        for daemon in honest:
            node = gateway.get(daemon.node_name or "")
            book = gateway.federation.ledger_of(node.metadata.name, since=0)
            assert node.status.credits > 0 and all(e["entry"]["granted"] > 0 for e in book["entries"])
            local = [SignedEntry.from_dict(e) for e in daemon.paths.ledger_entries()]
            gateway_id = gateway_peer(daemon.bootstrap[0])
            assert gateway_id == gateway.authority.peer_id
            balance = verify_chain(local, gateway=gateway_id, peer=daemon.identity.peer_id)
            assert balance == pytest.approx(node.status.credits) and local
        cheats = gateway.federation.ledger_of("cheater", since=0)["entries"]
        assert cheats and all(e["entry"]["granted"] == 0 for e in cheats)
        # someone else's key cannot have signed these
        with pytest.raises(Exception, match="not signed by gateway"):
            verify_chain([SignedEntry.from_dict(e) for e in cheats], gateway=Identity.generate().peer_id)
