"""The gateway's decisions, free of networking: who is admitted, who gets which lease, what is mirrored.

The mesh adapter calls these methods (from a worker thread) for every message it has already
unwrapped and authenticated; everything here is synchronous and testable with a FakeClock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from park.control.store import Store
from park.core.clock import Clock
from park.core.errors import ConflictError, NotFoundError
from park.core.resources import FederatedNode, FederatedNodeStatus, NodeCapabilities
from park.federation import tokens
from park.federation.identity import Identity
from park.federation.messages import (
    Announcement,
    Heartbeat,
    HeartbeatAck,
    Hello,
    Idle,
    Lease,
    LedgerEntries,
    LedgerRequest,
    Refused,
    Result,
    ResultAck,
    Welcome,
)
from park.federation.tokens import JoinRefusedError
from park.federation.verification.engine import Verifier
from park.federation.work import WorkQueue, WorkUnit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayPolicy:
    heartbeat_s: float = 2.0
    lease_s: float = 10.0
    offline_after_s: float = 15.0
    idle_retry_s: float = 1.0
    last_seen_write_s: float = 5.0


@dataclass
class Session:
    node: str
    peer: str
    offer: NodeCapabilities
    address: str | None
    last_seen: datetime
    written_last_seen: datetime | None = None
    leases: set[str] = field(default_factory=set)
    paused: bool = False  # as the node's last announcement said


def clamp(offer: NodeCapabilities, granted: NodeCapabilities) -> NodeCapabilities:
    """What a node gets to use: its owner's current offer, never more than it was granted."""
    return NodeCapabilities(
        gpus=min(offer.gpus, granted.gpus),
        gpu_memory_gib=min(offer.gpu_memory_gib, granted.gpu_memory_gib),
        cpus=min(offer.cpus, granted.cpus),
        memory_gib=min(offer.memory_gib, granted.memory_gib),
        apps=[app for app in offer.apps if app in granted.apps],
    )


def _seen_at(moment: datetime) -> Callable[[FederatedNodeStatus], FederatedNodeStatus]:
    return lambda status: status.model_copy(update={"last_seen": moment})


EXPIRED = "its join token expired unused; invite it again for a new one"
PAUSED = "takes no work for now: paused by its owner, outside its hours, or its machine is busy"


def _expired(status: FederatedNodeStatus, now: datetime) -> bool:
    return status.invite_expires_at is not None and now >= status.invite_expires_at


def reputation(completed: int, expired: int, failed: int) -> float:
    """Share of leases that came back with a result, with a prior of one success in two tries."""
    return round((completed + 1) / (completed + expired + failed + 2), 4)


class GatewayCore:
    def __init__(
        self,
        *,
        store: Store,
        queue: WorkQueue,
        authority: Identity,
        clock: Clock,
        policy: GatewayPolicy | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.authority = authority
        self.clock = clock
        self.policy = policy or GatewayPolicy()
        self.verifier = verifier
        self._sessions: dict[str, Session] = {}
        self.revoked: frozenset[str] = frozenset()  # as of the last tick
        self._lock = threading.RLock()

    @property
    def peer_id(self) -> str:
        return self.authority.peer_id

    def _now_s(self) -> float:
        return self.clock.now().timestamp()

    # ------------------------------------------------------------ the node registry

    def _nodes(self) -> list[FederatedNode]:
        return [obj for obj in self.store.list("FederatedNode").items if isinstance(obj, FederatedNode)]

    def node_for_peer(self, peer: str) -> FederatedNode | None:
        return next((obj for obj in self._nodes() if obj.spec.peer_id == peer), None)

    def revoked_peers(self) -> set[str]:
        return {obj.spec.peer_id for obj in self._nodes() if obj.spec.revoked}

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def _mutate(self, name: str, change: Callable[[FederatedNodeStatus], FederatedNodeStatus]) -> None:
        for _ in range(5):
            try:
                obj = self.store.get("FederatedNode", None, name)
                assert isinstance(obj, FederatedNode)
                self.store.update_status(obj.model_copy(update={"status": change(obj.status)}))
                return
            except ConflictError:
                continue
            except NotFoundError:
                return
        logger.warning("gave up writing the status of FederatedNode %s after 5 conflicts", name)

    def _event(self, name: str, reason: str, message: str, *, warning: bool = False) -> None:
        try:
            obj = self.store.get("FederatedNode", None, name)
        except NotFoundError:
            return
        self.store.record_event(obj, type="Warning" if warning else "Normal", reason=reason, message=message)

    # ------------------------------------------------------------ admission

    def hello(self, peer: str, address: str | None, message: Hello) -> Welcome | Refused:
        """Admit `peer` (authenticated by Noise) or say why not; a refusal means disconnect."""
        try:
            node = self._admit(peer, message)
        except JoinRefusedError as refused:
            logger.info("refused %s from %s: %s", peer, address, refused.message)
            return Refused(code=refused.code, message=refused.message)
        now = self.clock.now()
        offer = clamp(message.offer, node.spec.capabilities)
        # A new session means the node restarted or reconnected: whatever it held is lost.
        self.queue.release(peer, now=now.timestamp(), why=f"{node.metadata.name} reconnected")
        with self._lock:
            self._sessions[peer] = Session(
                node=node.metadata.name, peer=peer, offer=offer, address=address, last_seen=now
            )

        def online(status: FederatedNodeStatus) -> FederatedNodeStatus:
            return status.model_copy(
                update={
                    "phase": "Online",
                    "message": None,
                    "address": address,
                    "joined_at": status.joined_at or now,
                    "last_seen": now,
                    "offered": offer,
                    "current_work": [],
                }
            )

        self._mutate(node.metadata.name, online)
        self._event(node.metadata.name, "Joined", f"peer {peer} joined from {address or 'unknown address'}")
        return Welcome(
            node=node.metadata.name,
            granted=offer,
            heartbeat_s=self.policy.heartbeat_s,
            lease_s=self.policy.lease_s,
            credits=node.status.credits,
        )

    def _admit(self, peer: str, message: Hello) -> FederatedNode:
        if message.token is None:
            node = self.node_for_peer(peer)
            if node is None or node.status.joined_at is None:
                raise JoinRefusedError("unknown-node", f"{peer} has not joined; present a join token")
        else:
            claims = tokens.check(message.token, issuer=self.peer_id, peer_id=peer, now=self._now_s())
            try:
                obj = self.store.get("FederatedNode", None, claims.node)
            except NotFoundError:
                raise JoinRefusedError("unknown-node", f"node {claims.node!r} was removed") from None
            assert isinstance(obj, FederatedNode)
            node = obj
            if node.spec.peer_id != peer:
                raise JoinRefusedError("wrong-peer", f"node {claims.node!r} is now bound to another peer")
            if node.spec.revoked:
                raise JoinRefusedError("revoked", f"node {node.metadata.name!r} is revoked")
            previous = self.queue.redeem_nonce(claims.nonce, peer, now=self._now_s())
            if previous is not None:
                raise JoinRefusedError("replayed", f"this token was already redeemed by {previous}")
        if node.spec.revoked:
            raise JoinRefusedError("revoked", f"node {node.metadata.name!r} is revoked")
        return node

    def session(self, peer: str) -> Session | None:
        with self._lock:
            return self._sessions.get(peer)

    def announced(self, peer: str, message: Announcement) -> None:
        """A node's gossip: it is alive, and it shows Paused while it says it takes no work."""
        session = self.session(peer)
        if session is None:
            return
        session.last_seen = self.clock.now()
        if message.paused == session.paused:
            return
        session.paused = message.paused
        phase, reason = ("Paused", "Paused") if message.paused else ("Online", "Resumed")
        text = PAUSED if message.paused else None
        self._mutate(session.node, lambda s: s.model_copy(update={"phase": phase, "message": text}))
        self._event(session.node, reason, text or "takes work again")

    # ------------------------------------------------------------ work

    def request(self, peer: str) -> Lease | Idle | Refused:
        session = self.session(peer)
        if session is None:
            return Refused(code="unknown-node", message="say hello first")
        session.last_seen = self.clock.now()
        if session.leases:
            return Idle(retry_s=self.policy.idle_retry_s)
        if self.verifier is not None:
            self.verifier.maybe_canary(peer, session.offer, now=self._now_s())
        unit = self.queue.lease(peer, session.offer, now=self._now_s())
        if unit is None:
            return Idle(retry_s=self.policy.idle_retry_s)
        with self._lock:
            session.leases.add(unit.id)
        self._count(session.node, "leased", current=sorted(session.leases))
        assert unit.deadline is not None
        return Lease(
            work_id=unit.id,
            app=unit.app,
            payload=unit.payload,
            payload_sha256=unit.payload_sha256,
            deadline_s=round(unit.deadline - self._now_s(), 3),
            attempt=unit.attempt,
        )

    def heartbeat(self, peer: str, message: Heartbeat) -> HeartbeatAck:
        session = self.session(peer)
        if session is None:
            return HeartbeatAck(cancelled=message.work_ids)
        session.last_seen = self.clock.now()
        extended, cancelled = self.queue.heartbeat(peer, message.work_ids, now=self._now_s())
        with self._lock:
            session.leases.difference_update(cancelled)
        return HeartbeatAck(extended=extended, cancelled=cancelled)

    def result(self, peer: str, message: Result) -> ResultAck:
        session = self.session(peer)
        if session is None:
            return ResultAck(work_id=message.work_id, accepted=False, message="say hello first")
        session.last_seen = self.clock.now()
        outcome = self.queue.complete(
            peer,
            message.work_id,
            ok=message.ok,
            output=message.output,
            output_sha256=message.output_sha256,
            error=message.error,
            now=self._now_s(),
            suspended=message.suspended and not message.ok,
            claimed=message.cpu_seconds,
        )
        with self._lock:
            session.leases.discard(message.work_id)
        if outcome.accepted and not message.suspended:
            self._count(session.node, "completed" if message.ok else "failed", current=sorted(session.leases))
        if outcome.accepted and outcome.unit is not None and self.verifier is not None:
            self.verifier.on_result(outcome.unit, now=self._now_s())
        return ResultAck(work_id=message.work_id, accepted=outcome.accepted, message=outcome.message)

    def _count(self, name: str, what: str, *, current: list[str]) -> None:
        now = self.clock.now()

        def bump(status: FederatedNodeStatus) -> FederatedNodeStatus:
            work = status.work.model_copy(update={what: getattr(status.work, what) + 1})
            return status.model_copy(
                update={
                    "work": work,
                    "current_work": current,
                    "last_seen": now,
                    "reputation": reputation(work.completed, work.expired, work.failed),
                }
            )

        self._mutate(name, bump)

    # ------------------------------------------------------------ leaving, expiry, revocation

    def disconnected(self, peer: str, *, why: str) -> list[WorkUnit]:
        """A node's session ended: its leases go back to the queue now, it shows Offline."""
        with self._lock:
            session = self._sessions.pop(peer, None)
        released = self.queue.release(peer, now=self._now_s(), why=f"{why} ({peer})")
        if session is None:
            return released
        revoked = peer in self.revoked_peers()

        def offline(status: FederatedNodeStatus) -> FederatedNodeStatus:
            return status.model_copy(
                update={
                    "phase": "Revoked" if revoked else "Offline",
                    "message": why,
                    "last_seen": session.last_seen,
                    "current_work": [],
                }
            )

        self._mutate(session.node, offline)
        reassigned = f"; {len(released)} lease(s) requeued" if released else ""
        self._event(session.node, "Left", f"{why}{reassigned}", warning=bool(released))
        return released

    def tick(self) -> set[str]:
        """Expire late leases, flush last-seen times, show Invited/Revoked phases, note the revoked
        peers (`self.revoked`); returns the peers to disconnect now. Lists the nodes once."""
        now = self.clock.now()
        for unit in self.queue.expire(now=now.timestamp()):
            if self.verifier is not None:
                self.verifier.on_result(self.queue.get(unit.id), now=now.timestamp())
            session = self.session(unit.peer or "")
            name = session.node if session else None
            if session is not None:
                with self._lock:
                    session.leases.discard(unit.id)
            if name is None and unit.peer is not None:
                node = self.node_for_peer(unit.peer)
                name = node.metadata.name if node else None
            if name is not None:
                self._count(name, "expired", current=sorted(session.leases) if session else [])
                self._event(name, "LeaseExpired", f"{unit.id} expired; requeued", warning=True)
        nodes = self._nodes()
        revoked = self.revoked = frozenset(n.spec.peer_id for n in nodes if n.spec.revoked)
        self._mark_phases(nodes)
        drop = {s.peer for s in self.sessions() if s.peer in revoked}
        stale = timedelta(seconds=self.policy.offline_after_s)
        drop |= {s.peer for s in self.sessions() if now - s.last_seen > stale}
        flush = timedelta(seconds=self.policy.last_seen_write_s)
        for session in self.sessions():
            if session.peer in drop:
                continue
            if session.written_last_seen is None or session.last_seen - session.written_last_seen >= flush:
                session.written_last_seen = session.last_seen
                self._mutate(session.node, _seen_at(session.last_seen))
        return drop

    def _mark_phases(self, nodes: list[FederatedNode]) -> None:
        """Revoked nodes without a session show Revoked; invited ones that never joined, Invited, and
        Expired once their join token ran out."""
        now = self.clock.now()
        for obj in nodes:
            name, status = obj.metadata.name, obj.status
            if obj.spec.revoked and status.phase != "Revoked" and self.session(obj.spec.peer_id) is None:
                self._mutate(name, lambda s: s.model_copy(update={"phase": "Revoked", "message": "revoked"}))
                self._event(name, "Revoked", "revoked; dropped from the mesh", warning=True)
            elif obj.spec.revoked or status.joined_at is not None:
                continue
            elif status.phase in (None, "Invited") and _expired(status, now):
                self._mutate(name, lambda s: s.model_copy(update={"phase": "Expired", "message": EXPIRED}))
                self._event(name, "InviteExpired", EXPIRED, warning=True)
            elif status.phase is None:
                self._mutate(name, lambda s: s.model_copy(update={"phase": "Invited"}))

    def ledger(self, peer: str, message: LedgerRequest) -> LedgerEntries:
        """The node's own signed credit entries after `since`, and its balance."""
        if self.verifier is None or self.session(peer) is None:
            return LedgerEntries()
        entries = self.verifier.ledger.entries(peer, since=message.since, limit=500)
        return LedgerEntries(
            entries=[e.to_dict() for e in entries], balance=self.verifier.ledger.balance(peer)
        )

    # ------------------------------------------------------------ what verification reports

    def credit(self, peer: str, granted: float) -> None:
        """Granted credit shows in the node's status (the ledger is the record)."""
        name = self.node_name(peer)
        if name is None or granted <= 0 or self.verifier is None:
            return
        balance = self.verifier.ledger.balance(peer)
        self._mutate(name, lambda s: s.model_copy(update={"credits": balance}))

    def revoke(self, peer: str, why: str) -> None:
        """Verification caught this node too often: revoke it (the tick drops it and tells the mesh)."""
        node = self.node_for_peer(peer)
        if node is None or node.spec.revoked:
            return
        for _ in range(5):
            try:
                current = self.store.get("FederatedNode", None, node.metadata.name)
                assert isinstance(current, FederatedNode)
                spec = current.spec.model_copy(update={"revoked": True})
                self.store.update(current.model_copy(update={"spec": spec}))
                break
            except ConflictError:
                continue
            except NotFoundError:
                return
        self._event(node.metadata.name, "RevokedByVerification", why, warning=True)

    def node_name(self, peer: str) -> str | None:
        """The node's name: from its session when it has one (every verdict asks), else the store."""
        session = self.session(peer)
        if session is not None:
            return session.node
        node = self.node_for_peer(peer)
        return node.metadata.name if node else None

    def online(self) -> set[str]:
        return {session.peer for session in self.sessions()}
