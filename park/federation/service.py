"""The gateway on the mesh: `/park/work/1.0.0` sessions, lease expiry, revocations, in its own trio thread.

`GatewayService.serve()` is trio; `GatewayThread` runs it beside Park's asyncio control plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

import trio
from pydantic import TypeAdapter, ValidationError

from park.core.errors import ParkError, PortInUseError
from park.federation.gateway import GatewayCore
from park.federation.mesh import Channel, ChannelClosedError, Mesh
from park.federation.messages import (
    ANNOUNCE_TOPIC,
    REVOCATION_TOPIC,
    REVOCATIONS_PER_MESSAGE,
    WORK_PROTOCOL,
    Announcement,
    Bye,
    Heartbeat,
    Hello,
    LedgerRequest,
    NodeMessage,
    Refused,
    RequestWork,
    Result,
    Revocation,
)
from park.federation.wire import Envelope, WireError

logger = logging.getLogger(__name__)

_NODE_MESSAGE: TypeAdapter[Any] = TypeAdapter(NodeMessage)


class GatewayService:
    def __init__(
        self,
        core: GatewayCore,
        mesh: Mesh,
        *,
        tick_s: float = 0.5,
        hello_timeout_s: float = 5.0,
        revocations_every_s: float = 5.0,
    ) -> None:
        self.core = core
        self.mesh = mesh
        self.tick_s = tick_s
        self.hello_timeout_s = hello_timeout_s
        self.revocations_every_s = revocations_every_s
        self._channels: dict[str, Channel] = {}
        self._published: frozenset[str] | None = None

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with self.mesh.running():
            self.mesh.handle(WORK_PROTOCOL, self._session)
            for peer in await trio.to_thread.run_sync(self.core.revoked_peers):
                await self.mesh.deny(peer, connections=False)
            await self.mesh.subscribe(ANNOUNCE_TOPIC, self._announcement)
            task_status.started(self.mesh.addrs)
            last_published = 0.0
            while True:
                await self._tick()
                if trio.current_time() - last_published >= self.revocations_every_s:
                    await self._publish_revocations(self.core.revoked, force=True)
                    last_published = trio.current_time()
                await trio.sleep(self.tick_s)

    # ------------------------------------------------------------ periodic work

    async def _tick(self) -> None:
        drop = await trio.to_thread.run_sync(self.core.tick)
        revoked = self.core.revoked
        await self._publish_revocations(revoked, force=False)
        for peer in drop:
            why = "revoked" if peer in revoked else "missed its heartbeats"
            await self._drop(peer, why)

    async def _publish_revocations(self, revoked: frozenset[str], *, force: bool) -> None:
        if revoked != self._published or (force and revoked):
            for peer in revoked - self.mesh.denied:
                await self.mesh.deny(peer, connections=False)
            for peer in self.mesh.denied - revoked:  # un-revoked nodes may come back
                self.mesh.allow(peer)
            if revoked:
                peers = sorted(revoked)
                for start in range(0, len(peers), REVOCATIONS_PER_MESSAGE):
                    chunk = peers[start : start + REVOCATIONS_PER_MESSAGE]
                    await self.mesh.publish(REVOCATION_TOPIC, Revocation(peers=chunk).to_dict())
            self._published = revoked

    async def _drop(self, peer: str, why: str) -> None:
        channel = self._channels.pop(peer, None)
        if channel is not None:
            code = "revoked" if why == "revoked" else "timeout"
            await self._refuse(channel, Refused(code=code, message=f"dropped: {why}"))
            await channel.reset()
        await self.mesh.hang_up(peer)
        await trio.to_thread.run_sync(lambda: self.core.disconnected(peer, why=why))

    async def _announcement(self, envelope: Envelope) -> None:
        try:
            message = Announcement.model_validate(envelope.body)
        except ValidationError:
            return
        if self.core.session(envelope.sender) is not None:
            await trio.to_thread.run_sync(lambda: self.core.announced(envelope.sender, message))

    # ------------------------------------------------------------ one node's session

    async def _session(self, channel: Channel) -> None:
        peer = channel.remote_peer
        state = {"admitted": False, "why": "closed the session"}
        try:
            await self._converse(channel, state)
        except trio.TooSlowError:
            state["why"] = "sent no hello in time"
        except ChannelClosedError as err:
            state["why"] = f"connection lost ({err})"
        except (WireError, ValidationError) as err:
            why = _bad_message(err)
            state["why"] = f"sent a bad message: {why}"
            logger.warning("dropping %s: %s", peer, state["why"])
            await self._refuse(channel, Refused(code="protocol", message=f"bad message: {why}"))
        except Exception:  # one peer's session must never stop the gateway
            state["why"] = "its session failed (see the gateway log)"
            logger.exception("session with %s failed", peer)
        finally:
            with trio.CancelScope(shield=True):
                await channel.close()
                if self._channels.get(peer) is channel:
                    del self._channels[peer]
                why = str(state["why"])
                if state["admitted"] and peer not in self._channels:
                    await trio.to_thread.run_sync(lambda: self.core.disconnected(peer, why=why))
                if not state["admitted"]:
                    await self.mesh.hang_up(peer)

    async def _refuse(self, channel: Channel, refused: Refused) -> None:
        """Tell the peer why the session ends (at most 1 s); it may be gone already."""
        with (
            trio.move_on_after(1),
            contextlib.suppress(ChannelClosedError, trio.BrokenResourceError, trio.ClosedResourceError),
        ):
            await channel.send(refused.to_dict())

    async def _converse(self, channel: Channel, state: dict[str, object]) -> None:
        """hello -> welcome (or refused, and the end); then answer requests until bye."""
        peer = channel.remote_peer
        with trio.fail_after(self.hello_timeout_s):
            first = await self._receive(channel)
        if not isinstance(first, Hello):
            await channel.send(Refused(code="protocol", message="the first message must be hello").to_dict())
            return
        reply = await trio.to_thread.run_sync(lambda: self.core.hello(peer, channel.remote_address, first))
        await channel.send(reply.to_dict())
        if isinstance(reply, Refused):
            return
        state["admitted"] = True
        previous = self._channels.pop(peer, None)
        if previous is not None:
            await previous.reset()
        self._channels[peer] = channel
        while True:
            message = await self._receive(channel)
            if isinstance(message, Bye):
                state["why"] = f"left: {message.reason or 'bye'}"
                return
            await channel.send(await self._answer(peer, message))

    async def _receive(self, channel: Channel) -> Any:
        envelope = await channel.receive()
        return _NODE_MESSAGE.validate_python(envelope.body)

    async def _answer(self, peer: str, message: Any) -> dict[str, Any]:
        if isinstance(message, RequestWork):
            reply: Any = await trio.to_thread.run_sync(lambda: self.core.request(peer))
        elif isinstance(message, Heartbeat):
            reply = await trio.to_thread.run_sync(lambda: self.core.heartbeat(peer, message))
        elif isinstance(message, Result):
            reply = await trio.to_thread.run_sync(lambda: self.core.result(peer, message))
        elif isinstance(message, LedgerRequest):
            reply = await trio.to_thread.run_sync(lambda: self.core.ledger(peer, message))
        else:
            reply = Refused(code="protocol", message=f"unexpected {message.type}")
        return dict(reply.to_dict())


class GatewayThread:
    """Runs a GatewayService's trio loop in a thread; start and stop it from asyncio."""

    def __init__(self, service: GatewayService) -> None:
        self.service = service
        self.addrs: list[str] = []
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._cancel = scope
            async with trio.open_nursery() as nursery:
                self.addrs = await nursery.start(self.service.serve)
                self._started.set()

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as err:
            self.error = err
            if self._started.is_set():  # a failed start is reported by start(), in one line
                logger.exception("the federation gateway stopped")
        finally:
            self._started.set()

    async def start(self, *, timeout_s: float = 30.0) -> list[str]:
        self._thread = threading.Thread(target=self._run, name="park-federation-gateway", daemon=True)
        self._thread.start()
        ready = await asyncio.to_thread(self._started.wait, timeout_s)
        if self.error is None and ready:
            return self.addrs
        cause = _first_cause(self.error) if self.error is not None else None
        if isinstance(cause, PortInUseError):
            raise PortInUseError(
                f"the federation gateway's {cause}; choose another with --federation-port N,"
                " or --federation-port 0 for a free one"
            )
        why = (str(cause).splitlines()[0] or type(cause).__name__) if cause is not None else "timed out"
        raise ParkError(f"the federation gateway did not start: {why}")

    def _cancel_now(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    async def stop(self) -> None:
        if self._thread is None:
            return
        if self._token is not None and self._thread.is_alive():
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._cancel_now, trio_token=self._token)
        await asyncio.to_thread(self._thread.join, 30)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _bad_message(err: WireError | ValidationError) -> str:
    """One line for the log and the peer: which check failed, or which field is wrong and why."""
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(err).splitlines()[0]


def _first_cause(error: BaseException) -> BaseException:
    """The first of a (possibly grouped) startup error: Park's own error, else the innermost cause."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    while error.__cause__ is not None and not isinstance(error, ParkError):
        error = error.__cause__
    return error
