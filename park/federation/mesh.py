"""The one adapter to py-libp2p (trio-native): a Noise-only TCP + yamux host with gossipsub.

Everything that touches libp2p is here. Callers get:
- `Mesh.running()`: the host listening, gossipsub running, until the context exits;
- `Channel`: a stream that sends and receives signed, hashed, length-prefixed frames (`wire`),
  checking that each frame comes from the peer Noise authenticated, in sequence;
- signed gossip with size and rate limits, and a deny list enforced on every new connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.network.stream.exceptions import StreamError
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.tools.anyio_service.context import background_trio_service

from park.core.ports import ensure_free
from park.federation.identity import Identity
from park.federation.wire import (
    HEADER,
    Envelope,
    SequenceCheck,
    WireError,
    frame,
    frame_length,
    open_envelope,
    seal,
)

logger = logging.getLogger(__name__)

GOSSIPSUB = TProtocol("/meshsub/1.1.0")
MAX_GOSSIP = 64 * 1024
GOSSIP_PER_SECOND = 5.0
GOSSIP_BURST = 20.0
GOSSIP_FRESH_S = 120.0


class ChannelClosedError(Exception):
    """The other side closed or reset the stream, or the connection went away."""


class Channel:
    """A stream carrying `wire` frames, both directions checked and counted."""

    def __init__(self, stream: INetStream, identity: Identity, protocol: str, *, max_frame: int) -> None:
        self.stream = stream
        self.identity = identity
        self.protocol = protocol
        self.max_frame = max_frame
        self.remote_peer = str(stream.muxed_conn.peer_id)
        remote = stream.get_remote_address()
        self.remote_address = f"{remote[0]}:{remote[1]}" if remote else None
        self._sent = 0
        self._received = SequenceCheck()
        self._send_lock = trio.Lock()

    async def send(self, body: dict[str, Any]) -> None:
        async with self._send_lock:
            self._sent += 1
            data = frame(seal(self.identity, self.protocol, self._sent, body))
            try:
                await self.stream.write(data)
            except StreamError as err:
                raise ChannelClosedError(str(err) or type(err).__name__) from err

    async def _read_exactly(self, n: int) -> bytes:
        chunks, have = [], 0
        while have < n:
            try:
                chunk = await self.stream.read(n - have)
            except StreamError as err:
                raise ChannelClosedError(str(err) or type(err).__name__) from err
            if not chunk:
                raise ChannelClosedError("end of stream")
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)

    async def receive(self) -> Envelope:
        """The next frame, or WireError (then the peer must be dropped) / ChannelClosedError."""
        length = frame_length(await self._read_exactly(HEADER), limit=self.max_frame)
        envelope = open_envelope(
            await self._read_exactly(length), topic=self.protocol, sender=self.remote_peer
        )
        self._received.accept(envelope)
        return envelope

    async def close(self) -> None:
        with suppress(StreamError, trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.close()

    async def reset(self) -> None:
        with suppress(StreamError, trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.reset()


class _TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        tokens, then = self._tokens.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._tokens[key] = (tokens, now)
            return False
        self._tokens[key] = (tokens - 1, now)
        return True


class _Gate(INotifee):
    """Drops a connection from a denied peer as soon as it is made."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        peer = str(conn.muxed_conn.peer_id)
        if peer in self.mesh.blocked:
            logger.info("dropping connection from denied peer %s", peer)
            await conn.close()
            return
        for callback in self.mesh.on_connected:
            callback(peer)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        peer = str(conn.muxed_conn.peer_id)
        for callback in self.mesh.on_disconnected:
            callback(peer)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        return None

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        return None


def _libp2p_key_pair(identity: Identity) -> Any:
    return create_new_key_pair(identity.seed)


def build_host(identity: Identity, *, dial_timeout_s: float = 10.0) -> IHost:
    """A TCP host that speaks Noise and nothing else (py-libp2p's default also accepts plaintext)."""
    key_pair = _libp2p_key_pair(identity)
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
    return new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_preference="YAMUX",
        connection_config=ConnectionConfig(
            max_connections_per_peer=1,
            dial_timeout=dial_timeout_s,
            inbound_upgrade_timeout=dial_timeout_s,
            outbound_upgrade_timeout=dial_timeout_s,
        ),
    )


def _refuse_a_taken_port(address: multiaddr.Multiaddr) -> None:
    """py-libp2p listens with SO_REUSEPORT, so a port another process listens on would be shared, each
    side getting connections at random: refuse it instead (PortInUseError)."""
    protocols = {p.name for p in address.protocols()}
    if "tcp" in protocols and protocols & {"ip4", "ip6"}:
        host = address.value_for_protocol("ip4" if "ip4" in protocols else "ip6")
        ensure_free(str(host), int(address.value_for_protocol("tcp")), what="port")


class Mesh:
    def __init__(
        self,
        identity: Identity,
        *,
        listen: list[str] | None = None,
        gossip_heartbeat_s: int = 1,
        max_frame: int = 4 * 1024 * 1024,
    ) -> None:
        self.identity = identity
        self.listen = listen if listen is not None else ["/ip4/127.0.0.1/tcp/0"]
        self.max_frame = max_frame
        self.host = build_host(identity)
        self.gossipsub = GossipSub(
            protocols=[GOSSIPSUB],
            degree=6,
            degree_low=4,
            degree_high=12,
            heartbeat_interval=gossip_heartbeat_s,
            max_messages_per_topic_per_second=GOSSIP_PER_SECOND * 4,
        )
        self.pubsub = Pubsub(self.host, self.gossipsub)
        self.denied: set[str] = set()  # their gossip is dropped
        self.blocked: set[str] = set()  # their connections are closed as soon as made
        self.on_connected: list[Callable[[str], None]] = []
        self.on_disconnected: list[Callable[[str], None]] = []
        self._nursery: trio.Nursery | None = None
        self._gossip_seq = 0
        self._gossip_seen: dict[tuple[str, str], int] = {}
        self._gossip_bucket = _TokenBucket(GOSSIP_PER_SECOND, GOSSIP_BURST)

    @property
    def peer_id(self) -> str:
        return self.identity.peer_id

    @property
    def addrs(self) -> list[str]:
        """Dialable multiaddrs, each ending in /p2p/<peer id>."""
        return [str(a) for a in self.host.get_addrs()]

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Mesh]:
        listen = [multiaddr.Multiaddr(a) for a in self.listen]
        for address in listen:
            _refuse_a_taken_port(address)
        async with (
            self.host.run(listen_addrs=listen),
            background_trio_service(self.pubsub),
            background_trio_service(self.gossipsub),
            trio.open_nursery() as nursery,
        ):
            self.host.get_network().register_notifee(_Gate(self))
            await self.pubsub.wait_until_ready()
            self._nursery = nursery
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    # ------------------------------------------------------------ connections and streams

    async def dial(self, address: str) -> str:
        """Connect to `/ip4/.../tcp/.../p2p/<id>`; the peer ID is checked by Noise during the handshake."""
        info = info_from_p2p_addr(multiaddr.Multiaddr(address))
        await self.host.connect(info)
        return str(info.peer_id)

    def handle(self, protocol: str, handler: Callable[[Channel], Awaitable[None]]) -> None:
        async def on_stream(stream: INetStream) -> None:
            channel = Channel(stream, self.identity, protocol, max_frame=self.max_frame)
            if channel.remote_peer in self.blocked:
                await channel.reset()
                return
            await handler(channel)

        self.host.set_stream_handler(TProtocol(protocol), on_stream)

    async def open(self, peer_id: str, protocol: str) -> Channel:
        stream = await self.host.new_stream(ID.from_base58(peer_id), [TProtocol(protocol)])
        return Channel(stream, self.identity, protocol, max_frame=self.max_frame)

    async def hang_up(self, peer_id: str) -> None:
        try:
            await self.host.disconnect(ID.from_base58(peer_id))
        except Exception as err:
            logger.debug("disconnect %s: %s", peer_id, err)

    def connected_peers(self) -> list[str]:
        return [str(p) for p in self.host.get_network().connections]

    async def deny(self, peer_id: str, *, connections: bool = True) -> None:
        """Ignore this peer's gossip from now on; with `connections`, also refuse and drop its connections.

        The gateway keeps accepting connections from revoked peers only to tell them so, then hangs up.
        """
        self.denied.add(peer_id)
        if connections:
            self.blocked.add(peer_id)
            if peer_id in self.connected_peers():
                await self.hang_up(peer_id)

    def allow(self, peer_id: str) -> None:
        self.denied.discard(peer_id)
        self.blocked.discard(peer_id)

    # ------------------------------------------------------------ gossip

    async def publish(self, topic: str, body: dict[str, Any]) -> None:
        self._gossip_seq = max(self._gossip_seq + 1, time.time_ns() // 1_000_000)
        await self.pubsub.publish(topic, seal(self.identity, topic, self._gossip_seq, body))

    def _valid_gossip(
        self, topic: str, message: rpc_pb2.Message, senders: Callable[[str], bool] | None, *, relay: bool
    ) -> Envelope | None:
        """Relay checks (size, signature, sender, rate, freshness) or delivery checks (order)."""
        if len(message.data) > MAX_GOSSIP:
            return None
        try:
            envelope = open_envelope(message.data, topic=topic)
        except WireError as err:
            logger.info("dropping gossip on %s: %s", topic, err)
            return None
        if senders is not None and not senders(envelope.sender):
            return None
        if envelope.sender in self.denied:
            return None
        if relay:
            fresh = abs(envelope.seq - time.time() * 1000) <= GOSSIP_FRESH_S * 1000
            return envelope if fresh and self._gossip_bucket.allow(envelope.sender) else None
        last = self._gossip_seen.get((topic, envelope.sender), 0)
        if envelope.seq <= last:
            return None
        return envelope

    async def subscribe(
        self,
        topic: str,
        on_message: Callable[[Envelope], Awaitable[None]],
        *,
        senders: Callable[[str], bool] | None = None,
    ) -> None:
        """Deliver each valid, fresh, in-order gossip message of `topic` (ours included)."""
        assert self._nursery is not None, "subscribe inside Mesh.running()"

        def validator(forwarder: ID, message: rpc_pb2.Message) -> bool:
            try:
                return self._valid_gossip(topic, message, senders, relay=True) is not None
            except Exception:  # a validator that raises must still say no
                logger.exception("validating gossip on %s", topic)
                return False

        self.pubsub.set_topic_validator(topic, validator, False)
        subscription = await self.pubsub.subscribe(topic)

        async def pump() -> None:
            while True:
                message = await subscription.get()
                try:
                    envelope = self._valid_gossip(topic, message, senders, relay=False)
                except Exception:
                    logger.exception("checking gossip on %s", topic)
                    continue
                if envelope is None:
                    continue
                self._gossip_seen[(topic, envelope.sender)] = envelope.seq
                try:
                    await on_message(envelope)
                except Exception:
                    logger.exception("handling gossip on %s", topic)

        self._nursery.start_soon(pump)
