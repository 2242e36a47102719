"""The federation with real py-libp2p hosts on loopback: joins, refusals, revocation, leases, caps."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import time as clock_time
from pathlib import Path

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.network.config import ConnectionConfig
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport

from park.control.store.sqlite import SQLiteStore
from park.core.clock import SystemClock
from park.core.errors import PortInUseError
from park.core.resources import NodeCapabilities
from park.federation import tokens
from park.federation.identity import Identity
from park.federation.mesh import Channel, ChannelClosedError, Mesh
from park.federation.messages import WORK_PROTOCOL
from park.federation.node import EXIT_REFUSED, EXIT_REVOKED, NodeDaemon
from park.federation.runtime import Federation, FederationSettings
from park.federation.wire import frame
from tests.integration.federation.harness import Gateway, running_gateway, wait_until

pytestmark = [
    pytest.mark.timeout(180),
    # py-libp2p 0.8.1 leaves a cancelled host's TCP sockets to the garbage collector.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
REPO = Path(__file__).resolve().parents[3]
SLOW_ROUNDS = 400_000  # ~0.3-1 s of SHA-256 on this machine


async def _until(predicate: object, *, timeout: float, what: str) -> None:
    deadline = trio.current_time() + timeout
    while not predicate():  # type: ignore[operator]
        if trio.current_time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await trio.sleep(0.05)


def _submit(gateway: Gateway, count: int, *, rounds: int, **kwargs: object) -> list[str]:
    return [
        gateway.queue.submit(
            "sha256-chain", {"seed": f"s{i}", "rounds": rounds}, now=time.time(), **kwargs
        ).id  # type: ignore[arg-type]
        for i in range(count)
    ]


def test_ten_nodes_join_with_valid_tokens_and_each_receives_work(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as gateway:
        daemons = [NodeDaemon(gateway.node(f"n{i}"), handle_signals=False) for i in range(10)]

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                for daemon in daemons:
                    nursery.start_soon(daemon.run)
                await _until(lambda: len(gateway.core.sessions()) == 10, timeout=30, what="10 sessions")
                ids = _submit(gateway, 10, rounds=SLOW_ROUNDS)
                await _until(
                    lambda: gateway.queue.counts().get("done") == 10, timeout=90, what="10 units done"
                )
                workers = {gateway.queue.get(i).completed_by for i in ids}
                assert workers == {d.identity.peer_id for d in daemons}  # one lease at a time: each got one
                nursery.cancel_scope.cancel()

        trio.run(main)
        for i in range(10):
            node = gateway.get(f"n{i}")
            assert node.status.phase == "Online" and node.status.work.completed == 1
            assert node.status.joined_at is not None and node.status.address is not None


def _refusal(gateway: Gateway, name: str, **config: object) -> tuple[int, str]:
    daemon = NodeDaemon(gateway.node(name, **config), handle_signals=False)
    code = trio.run(daemon.run)
    return code, daemon.reason


def test_expired_forged_replayed_and_wrong_peer_tokens_are_refused(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as gateway:
        # expired
        paths = gateway.node("expired")
        claims = tokens.read(paths.load_config().token or "")[0]
        token, _ = tokens.issue(
            gateway.authority, node="expired", peer_id=claims.peer_id, capabilities=claims.capabilities,
            now=time.time() - 120, ttl_s=60, bootstrap=gateway.addrs,
        )  # fmt: skip
        code, reason = _refusal(gateway, "expired", token=token)
        assert code == EXIT_REFUSED and "expired" in reason
        # forged: signed by another key that claims to be the gateway
        mallory = Identity.generate()
        forged, _ = tokens.issue(
            mallory, node="forged", peer_id=claims.peer_id, capabilities=claims.capabilities,
            now=time.time(), ttl_s=60, bootstrap=gateway.addrs,
        )  # fmt: skip
        code, reason = _refusal(gateway, "forged", token=forged)
        assert code == EXIT_REFUSED and "forged" in reason
        # wrong peer: a token issued for another node's peer ID
        other = gateway.node("victim")
        stolen = other.load_config().token
        code, reason = _refusal(gateway, "thief", token=stolen)
        assert code == EXIT_REFUSED and "wrong-peer" in reason
        # replayed: a node that joined, was removed and re-added, presents its old (spent) token
        honest = gateway.node("honest")
        spent = honest.load_config().token

        async def join_then_leave() -> None:
            daemon = NodeDaemon(honest, handle_signals=False)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(daemon.run)
                await _until(honest.joined.exists, timeout=20, what="honest joins")  # the node heard welcome
                nursery.cancel_scope.cancel()

        trio.run(join_then_leave)
        honest.joined.unlink()
        daemon = NodeDaemon(honest, handle_signals=False)
        assert daemon.config.token == spent
        assert trio.run(daemon.run) == EXIT_REFUSED and "replayed" in daemon.reason
        for name in ("expired", "forged", "thief"):
            assert gateway.phase(name) in (None, "Invited")
        wait_until(lambda: not gateway.core.sessions(), timeout=10, what="no sessions left")


def test_a_plaintext_dial_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with running_gateway(tmp_path) as gateway:
        key_pair = create_new_key_pair()
        host = new_host(
            key_pair=key_pair,
            sec_opt={PLAINTEXT_PROTOCOL_ID: InsecureTransport(key_pair)},  # type: ignore[dict-item]
            connection_config=ConnectionConfig(max_connections_per_peer=1, dial_timeout=5),
        )

        async def dial() -> None:
            async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
                with pytest.raises(Exception) as raised:  # noqa: PT011 - libp2p's own error types
                    with trio.fail_after(15):
                        await host.connect(info_from_p2p_addr(multiaddr.Multiaddr(gateway.addrs[0])))
                assert type(raised.value).__name__ == "SwarmDialAllFailedError"

        trio.run(dial)
        assert "failed to negotiate the secure protocol" in caplog.text
        assert gateway.core.sessions() == []


def test_a_revoked_node_is_dropped_and_the_mesh_hears_within_seconds(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as gateway:
        bad = NodeDaemon(gateway.node("bad"), handle_signals=False)
        good = NodeDaemon(gateway.node("good"), handle_signals=False)
        timings: dict[str, float] = {}

        async def main() -> None:
            async with trio.open_nursery() as nursery:

                async def run_bad() -> None:
                    timings["code"] = await bad.run()
                    timings["bad_out"] = trio.current_time()

                nursery.start_soon(run_bad)
                nursery.start_soon(good.run)
                await _until(lambda: len(gateway.core.sessions()) == 2, timeout=20, what="two sessions")
                await trio.sleep(1.5)  # let gossipsub graft its mesh
                node = gateway.get("bad")
                revoked = node.model_copy(update={"spec": node.spec.model_copy(update={"revoked": True})})
                await trio.to_thread.run_sync(gateway.store.update, revoked)
                timings["revoked"] = trio.current_time()
                assert good.mesh is not None
                await _until(
                    lambda: "bad_out" in timings and bad.identity.peer_id in good.mesh.denied,  # type: ignore[union-attr]
                    timeout=10, what="the revocation to reach both nodes",
                )  # fmt: skip
                timings["heard"] = trio.current_time()
                assert good.mesh.addrs == []  # listens nowhere (as behind NAT): gossip came on its own dial
                nursery.cancel_scope.cancel()

        trio.run(main)
        assert timings["code"] == EXIT_REVOKED
        assert timings["heard"] - timings["revoked"] < 5
        peers = lambda: {s.peer for s in gateway.core.sessions()}  # noqa: E731
        wait_until(lambda: bad.identity.peer_id not in peers(), timeout=5, what="the gateway to drop it")
        wait_until(lambda: gateway.phase("bad") == "Revoked", timeout=10, what="phase Revoked")


def test_a_node_killed_mid_lease_has_its_work_reassigned_and_nothing_is_lost(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as gateway:
        victim = gateway.node("victim")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        process = subprocess.Popen(
            [sys.executable, "-m", "park", "node", "run", "--dir", str(victim.root)],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_until(lambda: len(gateway.core.sessions()) == 1, timeout=60, what="the victim to join")
            (unit_id,) = _submit(gateway, 1, rounds=20 * SLOW_ROUNDS)
            wait_until(lambda: gateway.queue.get(unit_id).state == "leased", timeout=20, what="a lease")
            time.sleep(0.5)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
        wait_until(lambda: gateway.queue.get(unit_id).state == "queued", timeout=10, what="the lease back")
        wait_until(lambda: gateway.phase("victim") == "Offline", timeout=10, what="the victim Offline")
        rescuer = NodeDaemon(gateway.node("rescuer"), handle_signals=False)

        async def rescue() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(rescuer.run)
                await _until(lambda: gateway.queue.get(unit_id).state == "done", timeout=120, what="done")
                nursery.cancel_scope.cancel()

        trio.run(rescue)
        unit = gateway.queue.get(unit_id)
        assert unit.completed_by == rescuer.identity.peer_id and unit.attempt == 2
        assert set(unit.tried_by) == {rescuer.identity.peer_id, victim_peer(victim)}
        assert unit.output is not None and unit.output["rounds"] == 20 * SLOW_ROUNDS


def victim_peer(paths: object) -> str:
    return Identity.load(paths.key).peer_id  # type: ignore[attr-defined]


def test_time_windows_pause_and_caps_are_respected(tmp_path: Path) -> None:
    with running_gateway(tmp_path) as gateway:
        night_owl = NodeDaemon(
            gateway.node("owl", windows=["18:00-08:00"]),
            handle_signals=False,
            local_time=lambda: clock_time(12, 0),
        )
        small = NodeDaemon(gateway.node("small"), handle_signals=False)
        gpu_unit = gateway.queue.submit(
            "sha256-chain", {"seed": "g", "rounds": 1}, now=time.time(), needs=NodeCapabilities(gpus=1)
        )

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(night_owl.run)
                nursery.start_soon(small.run)
                await _until(lambda: len(gateway.core.sessions()) == 2, timeout=20, what="two sessions")
                await _until(lambda: night_owl.state == "paused", timeout=10, what="owl paused")
                assert "allowed hours" in night_owl.reason
                await _until(
                    lambda: gateway.phase("owl") == "Paused", timeout=10, what="the owl shown Paused"
                )
                assert gateway.phase("small") == "Online"
                (cpu_unit,) = _submit(gateway, 1, rounds=1)
                await _until(lambda: gateway.queue.get(cpu_unit).state == "done", timeout=20, what="cpu unit")
                assert gateway.queue.get(cpu_unit).completed_by == small.identity.peer_id  # not the owl
                assert gateway.queue.get(gpu_unit.id).state == "queued"  # no node has a GPU
                small.paths.paused.touch()
                await _until(lambda: small.state == "paused", timeout=10, what="small paused")
                await _until(
                    lambda: gateway.phase("small") == "Paused", timeout=10, what="small shown Paused"
                )
                (held,) = _submit(gateway, 1, rounds=1)
                await trio.sleep(1.5)
                assert gateway.queue.get(held).state == "queued"
                small.paths.paused.unlink()
                await _until(lambda: gateway.queue.get(held).state == "done", timeout=20, what="resumed work")
                await _until(
                    lambda: gateway.phase("small") == "Online", timeout=10, what="small Online again"
                )
                probe = gateway.queue.submit("probe", {}, now=time.time())
                await _until(lambda: gateway.queue.get(probe.id).state == "done", timeout=20, what="probe")
                output = gateway.queue.get(probe.id).output or {}
                assert len(output["cpus"]) == 1 and output["cudaVisibleDevices"] == ""  # cpus=1, gpus=0
                small.paths.drain.touch()
                await _until(lambda: small.state == "stopped", timeout=20, what="drained")
                nursery.cancel_scope.cancel()

        trio.run(main)
        message = lambda: gateway.get("small").status.message  # noqa: E731
        wait_until(lambda: message() == "left: drained", timeout=10, what="the gateway to record the drain")


def test_a_malicious_frame_drops_only_its_sender(tmp_path: Path) -> None:
    """Garbage, a lone surrogate (JSON that cannot be hashed), an oversized frame: the gateway tells the
    sender why in one `refused` frame, drops it, and serves on."""
    with running_gateway(tmp_path) as gateway:
        attacker = Mesh(Identity.generate())

        async def attack() -> None:
            async with attacker.running():
                for payload, why in (
                    (b"\x00\x00\x00\x05hello", "unreadable envelope"),
                    (
                        frame(
                            b'{"v":1,"from":"%s","seq":1,"body":{"type":"\\ud800"},"sha256":"0","sig":"AA=="}'
                            % attacker.peer_id.encode()
                        ),
                        "body cannot be hashed",
                    ),
                    ((64 * 1024 * 1024).to_bytes(4, "big"), "the limit is 4194304"),
                ):
                    await attacker.dial(gateway.addrs[0])
                    channel = await attacker.open(gateway.core.peer_id, WORK_PROTOCOL)
                    await channel.stream.write(payload)
                    await _refused_then_closed(channel, why)
                    await attacker.hang_up(gateway.core.peer_id)

        trio.run(attack)
        honest = NodeDaemon(gateway.node("honest"), handle_signals=False)

        async def serve() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(honest.run)
                (unit,) = _submit(gateway, 1, rounds=1)
                await _until(
                    lambda: gateway.queue.get(unit).state == "done", timeout=30, what="work after attacks"
                )
                nursery.cancel_scope.cancel()

        trio.run(serve)


async def _refused_then_closed(channel: Channel, why: str) -> None:
    with trio.fail_after(10):
        refused = (await channel.receive()).body
        assert (refused["type"], refused["code"]) == ("refused", "protocol"), refused
        assert why in refused["message"], refused
        with pytest.raises(ChannelClosedError):
            await channel.receive()


def test_a_frame_hashed_over_other_json_is_refused_with_the_reason(tmp_path: Path) -> None:
    """A peer whose JSON encoder escapes `<>&` (as Go's does) hashes other bytes than the canonical JSON:
    it is told so in a `refused` frame, not left with a bare end of stream."""
    with running_gateway(tmp_path) as gateway:
        identity = Identity.generate()
        peer = Mesh(identity)
        body = {"type": "hello", "agent": "go-node <beta> & co", "offer": {"cpus": 1.0, "apps": ["probe"]}}
        escaped = json.dumps(body, sort_keys=True, separators=(",", ":"))
        escaped = escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        sha256 = hashlib.sha256(escaped.encode()).hexdigest()  # not the canonical form's hash
        signature = identity.sign(b"park/wire/v1\0" + f"{WORK_PROTOCOL}\n1\n{sha256}".encode())
        envelope = {"v": 1, "from": identity.peer_id, "seq": 1, "body": body, "sha256": sha256,
                    "sig": base64.urlsafe_b64encode(signature).decode()}  # fmt: skip

        async def send() -> None:
            async with peer.running():
                await peer.dial(gateway.addrs[0])
                channel = await peer.open(gateway.core.peer_id, WORK_PROTOCOL)
                await channel.stream.write(frame(json.dumps(envelope).encode()))
                await _refused_then_closed(channel, "body does not match its sha256")

        trio.run(send)


def test_a_second_gateway_on_a_taken_port_is_refused_not_shared(tmp_path: Path) -> None:
    """py-libp2p listens with SO_REUSEPORT, which would let a second gateway bind the same port and take
    half of the first one's connections; it must be refused in one line instead."""
    with running_gateway(tmp_path) as first:
        port = int(multiaddr.Multiaddr(first.addrs[0]).value_for_protocol("tcp"))
        store = SQLiteStore(tmp_path / "second.db", clock=SystemClock())
        second = Federation(
            store, FederationSettings(directory=tmp_path / "second", port=port), clock=SystemClock()
        )
        try:
            with pytest.raises(PortInUseError) as refused:
                asyncio.run(second.start())
            message = str(refused.value)
            assert f"127.0.0.1:{port} is already in use" in message and "--federation-port" in message
            assert "\n" not in message
        finally:
            asyncio.run(second.stop())
            store.close()
