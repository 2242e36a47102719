"""`park node run`: the node-operator daemon. Joins the gateway, takes leases, runs work in the sandbox.

Trio-native (it is its own process). The owner's controls are files in the node directory
(`paused`, `drain`) and signals: SIGTERM drains (finish the current work, leave), SIGINT stops now.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from datetime import time as clock_time
from typing import Any

import trio
from pydantic import TypeAdapter, ValidationError

from park.core.errors import InvalidError
from park.federation import sandbox
from park.federation.config import NodePaths
from park.federation.identity import Identity
from park.federation.mesh import Channel, Mesh
from park.federation.messages import (
    ANNOUNCE_TOPIC,
    REVOCATION_TOPIC,
    WORK_PROTOCOL,
    Announcement,
    Bye,
    GatewayMessage,
    Heartbeat,
    HeartbeatAck,
    Hello,
    Idle,
    Lease,
    LedgerEntries,
    LedgerRequest,
    Refused,
    RequestWork,
    Result,
    ResultAck,
    Revocation,
    Welcome,
)
from park.federation.policy import Decision, may_work
from park.federation.tokens import read
from park.federation.wire import Envelope, WireError, digest

logger = logging.getLogger(__name__)

_GATEWAY_MESSAGE: TypeAdapter[Any] = TypeAdapter(GatewayMessage)

EXIT_OK, EXIT_REFUSED, EXIT_REVOKED = 0, 2, 3
LEDGER_SYNC_S = 10.0
ANNOUNCE_EVERY_S = 60.0


class RefusedError(Exception):
    """The gateway said no (at hello, or later: revoked, timed out); `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def _innermost(error: BaseException) -> BaseException:
    """The one real error inside trio's (nested, single-member) exception groups."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def gateway_peer(address: str) -> str:
    if "/p2p/" not in address:
        raise InvalidError(f"gateway address {address!r} must end in /p2p/<peer id>")
    return address.rsplit("/p2p/", 1)[1]


class NodeDaemon:
    def __init__(
        self,
        paths: NodePaths,
        *,
        local_time: Callable[[], clock_time] = lambda: datetime.now().time(),
        load: Callable[[], float] = lambda: os.getloadavg()[0],
        reconnect_s: tuple[float, float] = (0.5, 15.0),
        handle_signals: bool = True,
    ) -> None:
        self.handle_signals = handle_signals
        self.paths = paths
        self.config = paths.load_config()
        self.identity = Identity.load(paths.key)
        self.local_time = local_time
        self.load = load
        self.reconnect_s = reconnect_s
        joined = paths.read_json(paths.joined) or {}
        self.bootstrap = self.config.gateway or list(joined.get("gateway", []))
        if not self.bootstrap and self.config.token:
            self.bootstrap = read(self.config.token)[0].bootstrap
        if not self.bootstrap:
            raise InvalidError(
                f"{paths.config}: no gateway address (set `gateway:` or use a token that has one)"
            )
        self.gateway_ids = {gateway_peer(a) for a in self.bootstrap}
        self.spec = sandbox.SandboxSpec(
            python=self.config.sandbox_python(),
            run_as=self.config.sandbox_user(),
            isolate_network=self.config.isolate_network,
            caps=self.config.caps,
            cpu_seconds=self.config.max_cpu_seconds,
        )
        self.state = "starting"
        self.reason = ""
        self.node_name: str | None = joined.get("node")
        self.granted: dict[str, Any] | None = None
        self.current: dict[str, Any] | None = None
        self.completed = 0
        self.credits = 0.0
        self.failed = 0
        self.connected_to: str | None = None
        self.draining = False
        self.stopping = False
        self._stop = trio.Event()
        self.exit_code = EXIT_OK
        self.mesh: Mesh | None = None
        self._ledger_due = 0.0
        self._status_written = 0.0

    # ------------------------------------------------------------ status

    def write_status(self) -> None:
        self.paths.write_json(
            self.paths.status,
            {
                "pid": os.getpid(),
                "updatedAt": datetime.now(UTC).isoformat(),
                "peerId": self.identity.peer_id,
                "node": self.node_name,
                "state": self.state,
                "reason": self.reason,
                "gateway": self.connected_to,
                "current": self.current,
                "caps": self.config.caps.to_dict(),
                "granted": self.granted,
                "windows": self.config.windows,
                "completed": self.completed,
                "failed": self.failed,
                "credits": self.credits,
            },
        )

    def _set(self, state: str, reason: str = "") -> None:
        """Record the daemon's state; status.json is rewritten on a change, or at most once a second."""
        changed = (state, reason) != (self.state, self.reason)
        if changed:
            logger.info("node %s: %s %s", self.identity.peer_id[-8:], state, reason)
        self.state, self.reason = state, reason
        if changed or time.monotonic() - self._status_written >= 1.0:
            self._status_written = time.monotonic()
            self.write_status()

    def others_load(self) -> float:
        """The machine's load without our own work (which adds about its CPU share while it runs)."""
        ours = min(self.config.caps.cpus, os.cpu_count() or 1) if self.current is not None else 0.0
        return max(0.0, self.load() - ours)

    def decision(self) -> Decision:
        self.draining = self.draining or self.paths.drain.exists()
        return may_work(
            now=self.local_time(),
            windows=self.config.time_windows(),
            paused=self.paths.paused.exists(),
            draining=self.draining,
            load=self.others_load(),
            busy_load=self.config.pause_when_load_above,
        )

    # ------------------------------------------------------------ main loop

    async def run(self) -> int:
        self.spec.check()
        mesh = self.mesh = Mesh(self.identity, listen=self.config.listen)
        async with mesh.running(), trio.open_nursery() as nursery:
            if self.handle_signals:
                nursery.start_soon(self._signals)
            await mesh.subscribe(
                REVOCATION_TOPIC, lambda e: self._revocation(mesh, e), senders=self.gateway_ids.__contains__
            )
            nursery.start_soon(self._connect_loop, mesh)
            await self._stop.wait()
            nursery.cancel_scope.cancel()
        self.write_status()
        return self.exit_code

    def finish(self, code: int, state: str, reason: str) -> None:
        self.exit_code = code
        self._set(state, reason)
        self._stop.set()

    async def _signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                if signum == signal.SIGTERM and not self.draining and self.connected_to is not None:
                    self.draining = True
                    self._set(self.state, "draining: finishing the current work")
                else:
                    self.stopping = True
                    if self.connected_to is None:
                        self._stop.set()

    async def _revocation(self, mesh: Mesh, envelope: Envelope) -> None:
        try:
            peers = Revocation.model_validate(envelope.body).peers
        except ValidationError:
            return
        for peer in peers:
            if peer == self.identity.peer_id:
                self.finish(EXIT_REVOKED, "revoked", "the federation revoked this node")
                return
            await mesh.deny(peer)

    async def _connect_loop(self, mesh: Mesh) -> None:
        delay = self.reconnect_s[0]
        while not self._stop.is_set():
            for address in self.bootstrap:
                try:
                    code = await self._session(mesh, address)
                except Exception as raised:  # libp2p raises its own dial and stream errors too
                    err = _innermost(raised)
                    logger.debug("session with %s ended", address, exc_info=True)
                    if isinstance(err, RefusedError) and err.code != "timeout":
                        revoked = err.code == "revoked"
                        self.finish(EXIT_REVOKED if revoked else EXIT_REFUSED, "refused", str(err))
                        return
                    self.connected_to = None
                    text = str(err).splitlines()[0] if str(err) else ""
                    self._set("disconnected", f"{address}: {type(err).__name__}: {text}".rstrip(": "))
                else:
                    if code is not None:
                        return
                    delay = self.reconnect_s[0]
                if self.stopping:
                    self.finish(EXIT_OK, "stopped", "stopped by signal")
                    return
            await trio.sleep(delay)
            delay = min(delay * 2, self.reconnect_s[1])

    async def _exchange(self, channel: Channel, body: dict[str, Any], timeout_s: float = 30.0) -> Any:
        await channel.send(body)
        with trio.fail_after(timeout_s):
            envelope = await channel.receive()
        reply = _GATEWAY_MESSAGE.validate_python(envelope.body)
        if isinstance(reply, Refused):
            raise RefusedError(reply.code, reply.message)
        return reply

    async def _session(self, mesh: Mesh, address: str) -> int | None:
        """One connection to the gateway; an exit code when the daemon should stop, None to reconnect."""
        self._set("connecting", address)
        gateway = await mesh.dial(address)
        channel = await mesh.open(gateway, WORK_PROTOCOL)
        joined = self.paths.read_json(self.paths.joined)
        if joined is None and not self.config.token:
            self.finish(EXIT_REFUSED, "refused", "no join token: run `park node run --token <token>`")
            return EXIT_REFUSED
        hello = Hello(token=None if joined else self.config.token, offer=self.config.caps)
        reply = await self._exchange(channel, hello.to_dict())
        if not isinstance(reply, Welcome):
            raise WireError(f"expected welcome, got {reply.type}")
        self.node_name, self.granted, self.connected_to = reply.node, reply.granted.to_dict(), address
        self.credits = reply.credits
        self.paths.write_json(self.paths.joined, {"node": reply.node, "gateway": self.bootstrap})
        self._set("idle", "joined")
        last_announce, announced = 0.0, None
        self._ledger_due = 0.0
        while True:
            if time.monotonic() >= self._ledger_due:
                await self._sync_ledger(channel)
            decision = self.decision()
            # Gossip costs every peer: announce on joining, on a change, and otherwise once a minute
            # (liveness travels on the work stream, which the gateway watches anyway). Paused: no work
            # now, whatever the reason (the owner's pause, the time windows, the machine's load).
            announcement = Announcement(
                offer=self.config.caps,
                busy=int(self.current is not None),
                paused=not decision.work and not self.draining,
            )
            if announcement != announced or time.monotonic() - last_announce > ANNOUNCE_EVERY_S:
                await mesh.publish(ANNOUNCE_TOPIC, announcement.to_dict())
                last_announce, announced = time.monotonic(), announcement
            if self.stopping or (self.draining and not decision.work):
                await channel.send(Bye(reason="drained" if self.draining else "stopped").to_dict())
                await channel.close()
                self.finish(EXIT_OK, "stopped", "drained" if self.draining else "stopped by signal")
                return EXIT_OK
            if not decision.work:
                self._set("paused", decision.reason)
                await self._exchange(channel, Heartbeat().to_dict())
                await trio.sleep(min(1.0, reply.heartbeat_s))
                continue
            answer = await self._exchange(channel, RequestWork().to_dict())
            if isinstance(answer, Idle):
                self._set("idle", "no work queued")
                await trio.sleep(min(answer.retry_s, reply.heartbeat_s))
            elif isinstance(answer, Lease):
                await self._work(channel, answer, heartbeat_s=reply.heartbeat_s)

    async def _sync_ledger(self, channel: Channel) -> None:
        """Fetch new credit entries; they are appended as the gateway signed them."""
        self._ledger_due = time.monotonic() + LEDGER_SYNC_S
        known = self.paths.ledger_entries()
        since = int(known[-1]["entry"]["seq"]) if known else 0
        reply = await self._exchange(channel, LedgerRequest(since=since).to_dict())
        if isinstance(reply, LedgerEntries):
            if reply.entries:
                self.paths.append_ledger(reply.entries)
            self.credits = reply.balance

    async def _work(self, channel: Channel, lease: Lease, *, heartbeat_s: float) -> None:
        self.current = {
            "workId": lease.work_id,
            "app": lease.app,
            "attempt": lease.attempt,
            "startedAt": datetime.now(UTC).isoformat(),
        }
        self._set("working", lease.work_id)
        outcome: dict[str, Any] = {}
        if digest(lease.payload) != lease.payload_sha256:
            outcome["error"] = "payload hash mismatch"
        else:
            try:
                prepared = sandbox.prepare(self.spec, lease.app, lease.payload)
            except (InvalidError, OSError) as err:
                outcome["error"] = f"could not prepare the sandbox: {err}"
            else:
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                try:
                    await self._run_app(channel, lease, prepared, outcome, heartbeat_s=heartbeat_s)
                finally:
                    sandbox.cleanup(prepared)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                outcome["cpu_seconds"] = (after.ru_utime - children.ru_utime) + (
                    after.ru_stime - children.ru_stime
                )
        self.current = None
        if outcome.get("cancelled"):
            self._set("idle", f"{lease.work_id} was taken back by the gateway")
            return
        result = self._result(lease, outcome)
        result = result.model_copy(update={"cpu_seconds": round(outcome.get("cpu_seconds", 0.0), 3)})
        ack = await self._exchange(channel, result.to_dict())
        if isinstance(ack, ResultAck) and ack.accepted and result.ok:
            self.completed += 1
        else:
            self.failed += 1
        self._ledger_due = min(self._ledger_due, time.monotonic() + 1.0)  # verdicts follow results
        self._set("idle", f"{lease.work_id}: {'done' if result.ok else result.error}")

    async def _run_app(
        self,
        channel: Channel,
        lease: Lease,
        prepared: sandbox.Prepared,
        outcome: dict[str, Any],
        *,
        heartbeat_s: float,
    ) -> None:
        """Run the app, heartbeating the lease; stop it when the owner's policy or the gateway says so."""
        done = trio.Event()

        async def execute() -> None:
            # A hung app (sleeping, so RLIMIT_CPU never fires) is stopped after twice its CPU budget.
            try:
                with trio.move_on_after(self.config.max_cpu_seconds * 2) as limit:
                    outcome["completed"] = await run_prepared(prepared, self.spec)
                if limit.cancelled_caught:
                    outcome["error"] = f"the app ran past {self.config.max_cpu_seconds * 2} s and was stopped"
            except OSError as err:
                outcome["error"] = f"could not start the app: {err}"
            finally:
                done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(execute)
            while not done.is_set():
                with trio.move_on_after(heartbeat_s):
                    await done.wait()
                if done.is_set():
                    return
                decision = Decision(False, "the daemon is stopping") if self.stopping else self.decision()
                if not decision.work and (self.stopping or not self.draining):
                    outcome["suspended"] = decision.reason
                    nursery.cancel_scope.cancel()
                    return
                ack = await self._exchange(channel, Heartbeat(work_ids=[lease.work_id]).to_dict())
                if isinstance(ack, HeartbeatAck) and lease.work_id in ack.cancelled:
                    outcome["cancelled"] = True
                    nursery.cancel_scope.cancel()
                    return

    def _result(self, lease: Lease, outcome: dict[str, Any]) -> Result:
        if "suspended" in outcome:
            return Result(
                work_id=lease.work_id,
                ok=False,
                output_sha256=digest({}),
                error=f"suspended: {outcome['suspended']}",
                suspended=True,
            )
        completed = outcome.get("completed")
        if "error" in outcome:
            return Result(work_id=lease.work_id, ok=False, output_sha256=digest({}), error=outcome["error"])
        if completed is None:
            return Result(
                work_id=lease.work_id,
                ok=False,
                output_sha256=digest({}),
                error="the work process did not finish",
            )
        if completed.returncode != 0:
            stderr = completed.stderr.decode(errors="replace").strip().splitlines()
            why = stderr[-1] if stderr else f"exit status {completed.returncode}"
            return Result(work_id=lease.work_id, ok=False, output_sha256=digest({}), error=why[:2000])
        try:
            output = json.loads(completed.stdout)
        except ValueError:
            return Result(
                work_id=lease.work_id, ok=False, output_sha256=digest({}), error="the app printed no JSON"
            )
        if not isinstance(output, dict):
            output = {"value": output}
        return Result(work_id=lease.work_id, ok=True, output=output, output_sha256=digest(output))


async def run_prepared(
    prepared: sandbox.Prepared, spec: sandbox.SandboxSpec
) -> subprocess.CompletedProcess[bytes]:
    """Start a prepared app in its sandbox (the limits are applied in the child) and wait for it."""
    return await trio.run_process(
        prepared.argv,
        stdin=prepared.stdin,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=prepared.env,
        cwd=str(prepared.workdir),
        preexec_fn=lambda: sandbox.limits(spec),
    )
