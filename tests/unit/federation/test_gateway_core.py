"""The gateway's admission and lease decisions over a real SQLite store, with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.errors import ConflictError
from park.core.resources import FederatedNode, NodeCapabilities
from park.federation.gateway import GatewayCore, GatewayPolicy, clamp
from park.federation.identity import Identity
from park.federation.invites import invite
from park.federation.messages import Announcement, Heartbeat, Hello, Idle, Lease, Refused, Result, Welcome
from park.federation.wire import digest
from park.federation.work import WorkQueue

CAPS = NodeCapabilities(cpus=2, memory_gib=4, apps=["sha256-chain"])


@pytest.fixture
def core(tmp_path: Path) -> Iterator[GatewayCore]:
    clock = FakeClock()
    store = SQLiteStore(tmp_path / "park.db", clock=clock)
    queue = WorkQueue(default_lease_s=10)
    policy = GatewayPolicy(heartbeat_s=1, lease_s=10, offline_after_s=5, last_seen_write_s=1)
    yield GatewayCore(store=store, queue=queue, authority=Identity.generate(), clock=clock, policy=policy)
    store.close()


def _invite(core: GatewayCore, name: str, node: Identity, caps: NodeCapabilities = CAPS) -> str:
    now = core.clock.now().timestamp()
    token, _ = invite(
        core.store, core.authority, name=name, peer_id=node.peer_id, capabilities=caps, ttl_s=60,
        bootstrap=[], now=now,
    )  # fmt: skip
    return token


def _node(core: GatewayCore, name: str) -> FederatedNode:
    obj = core.store.get("FederatedNode", None, name)
    assert isinstance(obj, FederatedNode)
    return obj


def test_a_token_admits_its_node_once_then_the_node_rejoins_by_peer_id(core: GatewayCore) -> None:
    node = Identity.generate()
    token = _invite(core, "n1", node)
    offer = NodeCapabilities(cpus=8, memory_gib=2, apps=["sha256-chain", "probe"])
    welcome = core.hello(node.peer_id, "127.0.0.1:1", Hello(token=token, offer=offer))
    assert isinstance(welcome, Welcome)
    assert welcome.granted == NodeCapabilities(cpus=2, memory_gib=2, apps=["sha256-chain"])  # clamped
    assert _node(core, "n1").status.phase == "Online"
    core.disconnected(node.peer_id, why="left")
    assert _node(core, "n1").status.phase == "Offline"
    replay = core.hello(node.peer_id, None, Hello(token=token, offer=offer))
    assert isinstance(replay, Refused) and replay.code == "replayed"
    assert isinstance(core.hello(node.peer_id, None, Hello(offer=offer)), Welcome)


def test_strangers_wrong_peers_and_revoked_nodes_are_refused(core: GatewayCore) -> None:
    node, thief = Identity.generate(), Identity.generate()
    token = _invite(core, "n1", node)
    stranger = core.hello(thief.peer_id, None, Hello(offer=CAPS))
    assert isinstance(stranger, Refused) and stranger.code == "unknown-node"
    stolen = core.hello(thief.peer_id, None, Hello(token=token, offer=CAPS))
    assert isinstance(stolen, Refused) and stolen.code == "wrong-peer"
    obj = _node(core, "n1")
    core.store.update(obj.model_copy(update={"spec": obj.spec.model_copy(update={"revoked": True})}))
    revoked = core.hello(node.peer_id, None, Hello(token=token, offer=CAPS))
    assert isinstance(revoked, Refused) and revoked.code == "revoked"
    assert core.session(node.peer_id) is None
    with pytest.raises(ConflictError, match="revoked"):
        _invite(core, "n1", node)


def test_leases_heartbeats_results_and_reputation(core: GatewayCore) -> None:
    node = Identity.generate()
    core.hello(node.peer_id, None, Hello(token=_invite(core, "n1", node), offer=CAPS))
    assert isinstance(core.request(node.peer_id), Idle)
    unit = core.queue.submit("sha256-chain", {"seed": "s", "rounds": 1}, now=core.clock.now().timestamp())
    lease = core.request(node.peer_id)
    assert (
        isinstance(lease, Lease) and lease.work_id == unit.id and lease.payload_sha256 == unit.payload_sha256
    )
    assert isinstance(core.request(node.peer_id), Idle)  # one lease at a time
    for _ in range(3):  # 12 s in all: past the first deadline (10 s), never silent for 5 s
        core.clock.advance(4)  # type: ignore[attr-defined]
        assert core.heartbeat(node.peer_id, Heartbeat(work_ids=[unit.id])).extended == [unit.id]
    assert core.tick() == set()
    assert core.queue.get(unit.id).state == "leased"
    output = {"digest": "x"}
    ack = core.result(
        node.peer_id, Result(work_id=unit.id, ok=True, output=output, output_sha256=digest(output))
    )
    assert ack.accepted
    status = _node(core, "n1").status
    assert (status.work.leased, status.work.completed) == (1, 1)
    assert status.reputation == pytest.approx(2 / 3, abs=1e-4)


def test_an_expired_lease_is_counted_and_a_silent_node_is_dropped(core: GatewayCore) -> None:
    node = Identity.generate()
    core.hello(node.peer_id, None, Hello(token=_invite(core, "n1", node), offer=CAPS))
    core.queue.submit("sha256-chain", {"seed": "s", "rounds": 1}, now=core.clock.now().timestamp())
    assert isinstance(core.request(node.peer_id), Lease)
    core.clock.advance(11)  # type: ignore[attr-defined]
    assert core.tick() == {node.peer_id}  # silent for longer than offline_after_s
    assert core.queue.counts() == {"queued": 1}
    assert _node(core, "n1").status.work.expired == 1
    reasons = [e.reason for e in core.store.list_events(kind="FederatedNode", name="n1")]
    assert "LeaseExpired" in reasons


def test_an_invitation_whose_token_ran_out_unused_shows_expired_until_invited_again(
    core: GatewayCore,
) -> None:
    node = Identity.generate()
    _invite(core, "late", node)  # a 60 s token
    core.tick()
    assert _node(core, "late").status.phase == "Invited"
    core.clock.advance(61)  # type: ignore[attr-defined]
    core.tick()
    expired = _node(core, "late").status
    assert expired.phase == "Expired" and "invite it again" in (expired.message or "")
    reasons = [e.reason for e in core.store.list_events(kind="FederatedNode", name="late")]
    assert reasons.count("InviteExpired") == 1
    token = _invite(core, "late", node)
    assert _node(core, "late").status.phase == "Invited"
    assert isinstance(core.hello(node.peer_id, None, Hello(token=token, offer=CAPS)), Welcome)
    core.clock.advance(61)  # type: ignore[attr-defined]
    core.hello(node.peer_id, None, Hello(offer=CAPS))  # a node that joined never expires
    core.tick()
    assert _node(core, "late").status.phase == "Online"


def test_a_node_that_announces_it_is_paused_shows_paused_then_online_again(core: GatewayCore) -> None:
    node = Identity.generate()
    core.hello(node.peer_id, None, Hello(token=_invite(core, "n1", node), offer=CAPS))
    core.announced(node.peer_id, Announcement(offer=CAPS, paused=True))
    paused = _node(core, "n1").status
    assert paused.phase == "Paused" and "takes no work" in (paused.message or "")
    core.announced(node.peer_id, Announcement(offer=CAPS, paused=False))
    assert _node(core, "n1").status.phase == "Online"
    reasons = [e.reason for e in core.store.list_events(kind="FederatedNode", name="n1")]
    assert reasons[-2:] == ["Paused", "Resumed"]
    core.announced(Identity.generate().peer_id, Announcement(offer=CAPS, paused=True))  # no session: ignored


def test_clamp_never_grants_more_than_the_invitation() -> None:
    granted = NodeCapabilities(gpus=1, gpu_memory_gib=8, cpus=2, memory_gib=4, apps=["a"])
    offer = NodeCapabilities(gpus=4, gpu_memory_gib=80, cpus=1, memory_gib=64, apps=["a", "b"])
    assert clamp(offer, granted) == NodeCapabilities(
        gpus=1, gpu_memory_gib=8, cpus=1, memory_gib=4, apps=["a"]
    )
