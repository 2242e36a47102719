"""Park's federation mesh against bare TCP: joining, a work unit's round trip, messages/s under load.

Run from the repository root: `python bench/federation_bench.py` (about 50 s on 2 cores; `--repeat 3`
alternates three runs of each side and shows the best of each row, for a busy machine).

Park: a real gateway (GatewayService and GatewayCore on py-libp2p: TCP, Noise, yamux, signed and hashed
frames; SQLite store and work queue; the production tick and policy except a short idle retry) runs in
its own trio thread in this process, as `park up` runs it, and `--nodes` real NodeDaemons run in one
trio run in a child process (`runAs: self`, `isolateNetwork: false`), all on loopback. The baseline,
in the same run, has the same shape with nothing of Park's: a plain trio TCP server in a thread here and
`--nodes` clients in a child process exchanging length-prefixed JSON (no crypto, no libp2p, no store:
units in a dict), the same messages (hello/welcome, request/lease or idle, result/ack), the same idle
retry, and the same work process (`python -I -S apps.py sha256-chain`, without the sandbox's set-up).

1. join: each node in turn (the earlier ones already polling), from the start of its session to
   admitted. Park: the daemon's own `connecting` -> `idle (joined)` states (dial, Noise, yamux, the
   `/park/work/1.0.0` stream, hello with a join token, welcome); baseline: connect -> welcome. Five
   more joins, made by hand with Mesh and Channel as NodeDaemon._session makes them, time the steps.
2. work round trip: `--samples` units (sha256-chain, rounds=1), one at a time, each submitted at a
   random moment, from submit to the state `done` as the queue recorded it, split at the lease.
3. messages/s with every node busy: `--units` units submitted at once; the frames the gateway
   exchanged (each hello, request, heartbeat or result and its answer: 2) from the first submit to
   the last result, per second; then, with the idle retry set to 0, request/idle back to back for
   `--flood-seconds`. CPU seconds of each process over both phases, from /proc.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol

import trio
from pydantic import TypeAdapter
from rich.console import Console
from rich.table import Table

from park.control.store.sqlite import SQLiteStore
from park.core.clock import SystemClock
from park.core.resources import NodeCapabilities
from park.federation import apps, sandbox, tokens
from park.federation.config import NodeConfig, NodePaths
from park.federation.gateway import GatewayCore, GatewayPolicy
from park.federation.identity import Identity
from park.federation.invites import invite
from park.federation.mesh import Mesh
from park.federation.messages import (
    WORK_PROTOCOL,
    Bye,
    GatewayMessage,
    Hello,
    Idle,
    Lease,
    Refused,
    Result,
    ResultAck,
    Welcome,
)
from park.federation.node import NodeDaemon, run_prepared
from park.federation.service import GatewayService
from park.federation.work import WorkQueue

APP = "sha256-chain"
TICK_S = 0.5  # GatewayService's default, as `park up` runs it
# Every CPU, so the sandbox's affinity (the first `cpus` CPUs) pins nothing that the baseline can use.
CAPS = NodeCapabilities(cpus=len(os.sched_getaffinity(0)), memory_gib=1, apps=[APP])
MARK = "BENCH-RESULT "
GATEWAY_MESSAGE: TypeAdapter[Any] = TypeAdapter(GatewayMessage)
JOIN_TIMEOUT_S = 30.0
PROBES = 5  # extra joins, made by hand with Mesh and Channel, to time a join's steps
WAIT_S = 120.0


def payload(number: int) -> dict[str, Any]:
    return {"seed": f"bench-{number}", "rounds": 1}


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def p95_ms(values: list[float]) -> float:
    """Nearest rank: with 20 values, the 19th smallest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] * 1e3


# ---------------------------------------------------------------- the gateway side (this process)


class Recorder:
    """What a gateway saw: frames exchanged, and which units finished (wakes the waiter, no polling)."""

    def __init__(self) -> None:
        self.frames = 0
        self.done: set[str] = set()
        self.leased_at: dict[str, float] = {}
        self.admissions: list[float] = []  # seconds the gateway's own admission decision took
        self._cond = threading.Condition()

    def exchanged(self, frames: int = 2) -> None:  # a message and its answer
        with self._cond:
            self.frames += frames

    def finished(self, work_id: str) -> None:
        with self._cond:
            self.done.add(work_id)
            self._cond.notify_all()

    def wait(self, work_ids: list[str], timeout: float = WAIT_S) -> list[str]:
        """The units of `work_ids` still not done after `timeout` (none, normally)."""
        with self._cond:
            self._cond.wait_for(lambda: self.done.issuperset(work_ids), timeout)
            return sorted(set(work_ids) - self.done)


class ServerThread:
    """Runs `serve(task_status=...)` in its own trio run in a thread, as GatewayThread does for `park up`."""

    def __init__(self, serve: Callable[..., Awaitable[None]], name: str) -> None:
        self.serve = serve
        self.value: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            self.value = await nursery.start(self.serve)
            self._started.set()

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as err:
            self.error = err
        finally:
            self._started.set()

    def start(self, timeout: float = 30.0) -> Any:
        self._thread.start()
        if not self._started.wait(timeout) or self.error is not None:
            raise RuntimeError(f"{self._thread.name} did not start: {self.error or 'timed out'}")
        return self.value

    def stop(self) -> None:
        if self._token is not None and self._scope is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
        self._thread.join(30)


class CountingCore(GatewayCore):
    """GatewayCore unchanged, but timing admissions and noting when units are leased and done."""

    def __init__(self, recorder: Recorder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recorder = recorder

    def hello(self, peer: str, address: str | None, message: Hello) -> Welcome | Refused:
        self.recorder.exchanged()
        started = time.perf_counter()
        reply = super().hello(peer, address, message)
        self.recorder.admissions.append(time.perf_counter() - started)
        return reply

    def request(self, peer: str) -> Lease | Idle | Refused:
        reply = super().request(peer)
        if isinstance(reply, Lease):
            self.recorder.leased_at[reply.work_id] = time.time()
        return reply

    def result(self, peer: str, message: Result) -> ResultAck:
        ack = super().result(peer, message)
        if ack.accepted and message.ok:
            self.recorder.finished(message.work_id)
        return ack


class CountingService(GatewayService):
    """GatewayService unchanged, but counting the two frames of every exchange after the hello."""

    def __init__(self, core: CountingCore, mesh: Mesh, **kwargs: Any) -> None:
        super().__init__(core, mesh, **kwargs)
        self.recorder = core.recorder

    async def _answer(self, peer: str, message: Any) -> dict[str, Any]:
        self.recorder.exchanged()
        return await super()._answer(peer, message)


class Side(Protocol):
    name: str
    recorder: Recorder

    def start(self, root: Path, nodes: int) -> dict[str, Any]: ...
    def submit(self, number: int) -> str: ...
    def round_trip(self, work_id: str) -> tuple[float, float]: ...
    def set_idle_retry(self, seconds: float) -> None: ...
    def describe(self, work_id: str) -> str: ...
    def stop(self) -> None: ...


class ParkSide:
    name = "Park"

    def __init__(self, policy: GatewayPolicy) -> None:
        self.policy = policy
        self.recorder = Recorder()

    def start(self, root: Path, nodes: int) -> dict[str, Any]:
        self.store = SQLiteStore(root / "park.db", clock=SystemClock())
        self.queue = WorkQueue(root / "federation.db", default_lease_s=self.policy.lease_s)
        authority = Identity.generate()
        self.core = core = CountingCore(
            self.recorder,
            store=self.store,
            queue=self.queue,
            authority=authority,
            clock=SystemClock(),
            policy=self.policy,
        )
        service = CountingService(core, Mesh(authority), tick_s=TICK_S)
        self.thread = ServerThread(service.serve, "park-gateway")
        addrs = self.thread.start()
        roots = []
        for number in range(nodes + PROBES):
            name = f"node-{number:02d}" if number < nodes else f"probe-{number - nodes}"
            identity = Identity.generate()
            paths = NodePaths(root / "nodes" / name)
            identity.save(paths.key)
            token, _ = invite(
                self.store,
                authority,
                name=name,
                peer_id=identity.peer_id,
                capabilities=CAPS,
                ttl_s=600,
                bootstrap=addrs,
                now=time.time(),
            )
            config = {"token": token, "caps": CAPS.to_dict(), "runAs": "self", "isolateNetwork": False}
            paths.save_config(NodeConfig.model_validate(config))
            roots.append(str(paths.root))
        return {
            "role": "park",
            "nodes": roots[:nodes],
            "probes": roots[nodes:],
            "retry_s": self.policy.idle_retry_s,
        }

    def submit(self, number: int) -> str:
        return self.queue.submit(APP, payload(number), now=time.time()).id

    def round_trip(self, work_id: str) -> tuple[float, float]:
        """(submit -> leased, leased -> done), from the times the work queue recorded."""
        unit = self.queue.get(work_id)
        assert unit.state == "done", unit
        leased = self.recorder.leased_at[work_id]
        return leased - unit.submitted_at, unit.updated_at - leased

    def set_idle_retry(self, seconds: float) -> None:
        self.core.policy = replace(self.core.policy, idle_retry_s=seconds)  # read on every request

    def describe(self, work_id: str) -> str:
        unit = self.queue.get(work_id)
        return f"{work_id}: {unit.state}, attempt {unit.attempt}, peer {unit.peer}, error {unit.error}"

    def stop(self) -> None:
        self.thread.stop()
        self.queue.close()
        self.store.close()


class JsonStream:
    """Length-prefixed JSON frames (uint32 big-endian length, then UTF-8 JSON) on a trio stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def send(self, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        await self.stream.send_all(len(data).to_bytes(4, "big") + data)

    async def _exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise EOFError("end of stream")
            self._buffer += chunk
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    async def receive(self) -> dict[str, Any]:
        length = int.from_bytes(await self._exactly(4), "big")
        body: dict[str, Any] = json.loads(await self._exactly(length))
        return body


class BareSide:
    """The baseline gateway: the same exchanges over plain TCP, units in a dict, nothing checked or stored."""

    name = "bare TCP"

    def __init__(self, policy: GatewayPolicy) -> None:
        self.retry_s = policy.idle_retry_s
        self.recorder = Recorder()
        self.tokens: dict[str, str] = {}
        self.units: dict[str, dict[str, Any]] = {}
        self.queued: deque[str] = deque()
        self._lock = threading.Lock()

    def start(self, root: Path, nodes: int) -> dict[str, Any]:
        self.tokens = {secrets.token_hex(16): f"node-{n:02d}" for n in range(nodes)}
        self.thread = ServerThread(self.serve, "bare-gateway")
        port = self.thread.start()
        return {"role": "bare", "port": port, "tokens": list(self.tokens), "retry_s": self.retry_s}

    def submit(self, number: int) -> str:
        work_id = f"w-{secrets.token_hex(12)}"
        with self._lock:
            self.units[work_id] = {"payload": payload(number), "submitted_at": time.time(), "done_at": None}
            self.queued.append(work_id)
        return work_id

    def round_trip(self, work_id: str) -> tuple[float, float]:
        unit, leased = self.units[work_id], self.recorder.leased_at[work_id]
        return leased - unit["submitted_at"], unit["done_at"] - leased

    def set_idle_retry(self, seconds: float) -> None:
        self.retry_s = seconds

    def describe(self, work_id: str) -> str:
        leased = work_id in self.recorder.leased_at
        return f"{work_id}: {'leased' if leased else 'queued'}, {self.units[work_id]}"

    def stop(self) -> None:
        self.thread.stop()

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._session, listeners)
            task_status.started(port)

    async def _session(self, stream: trio.SocketStream) -> None:
        wire = JsonStream(stream)
        try:
            hello = await wire.receive()
            node = self.tokens.get(hello.get("token", ""))
            self.recorder.exchanged()
            if hello.get("type") != "hello" or node is None:
                await wire.send({"type": "refused", "code": "unknown-node"})
                return
            await wire.send({"type": "welcome", "node": node, "retry_s": self.retry_s})
            while True:
                message = await wire.receive()
                await wire.send(self._answer(message))
        except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
            return
        finally:
            await stream.aclose()

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        self.recorder.exchanged()
        if message["type"] == "request":
            with self._lock:
                work_id = self.queued.popleft() if self.queued else None
            if work_id is None:
                return {"type": "idle", "retry_s": self.retry_s}
            self.recorder.leased_at[work_id] = time.time()
            return {
                "type": "lease",
                "work_id": work_id,
                "app": APP,
                "payload": self.units[work_id]["payload"],
            }
        if message["type"] == "result":
            work_id = message["work_id"]
            self.units[work_id].update(done_at=time.time(), output=message["output"])
            self.recorder.finished(work_id)
            return {"type": "result-ack", "work_id": work_id, "accepted": True}
        return {"type": "refused", "code": "protocol"}


# ---------------------------------------------------------------- the nodes (a child process)


class TimedDaemon(NodeDaemon):
    """A NodeDaemon that notes when its session starts (`connecting`) and when it is admitted."""

    def __init__(self, paths: NodePaths) -> None:
        super().__init__(paths, handle_signals=False)
        self.session_started = 0.0
        self.admitted_at = 0.0
        self.failure: str | None = None
        self.settled = trio.Event()

    def _set(self, state: str, reason: str = "") -> None:
        now = time.perf_counter()
        if state == "connecting":
            self.session_started = now
        elif state == "idle" and reason == "joined" and not self.settled.is_set():
            self.admitted_at = now
            self.settled.set()
        elif state in ("refused", "disconnected") and not self.settled.is_set():
            self.failure = f"{state}: {reason}"
            self.settled.set()
        super()._set(state, reason)


async def sandboxed_work(spec: sandbox.SandboxSpec, number: int) -> float:
    """One unit's process as NodeDaemon runs it: prepare, run_prepared (limits in the child), clean up."""
    started = time.perf_counter()
    prepared = sandbox.prepare(spec, APP, payload(number))
    try:
        await run_prepared(prepared, spec)
    finally:
        sandbox.cleanup(prepared)
    return time.perf_counter() - started


async def bare_work(app: str, body: dict[str, Any]) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-I", "-S", apps.__file__, app]
    return await trio.run_process(
        argv, stdin=json.dumps(body).encode(), capture_stdout=True, capture_stderr=True, check=False
    )


async def timed_bare_work(number: int) -> float:
    started = time.perf_counter()
    await bare_work(APP, payload(number))
    return time.perf_counter() - started


def report(value: dict[str, Any]) -> None:
    print(MARK + json.dumps(value), flush=True)


async def wait_for_stop() -> None:
    """Until the parent writes a line or closes our stdin."""
    async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as stdin:
        await stdin.receive_some()


async def probe_join(root: str) -> dict[str, float]:
    """A join exactly as NodeDaemon._session makes one (less its two small file operations), timed by step."""
    paths = NodePaths(Path(root))
    config = paths.load_config()
    assert config.token is not None
    address = tokens.read(config.token)[0].bootstrap[0]
    mesh = Mesh(Identity.load(paths.key), listen=config.listen)
    async with mesh.running():
        started = time.perf_counter()
        gateway = await mesh.dial(address)
        dialled = time.perf_counter()
        channel = await mesh.open(gateway, WORK_PROTOCOL)
        opened = time.perf_counter()
        await channel.send(Hello(token=config.token, offer=config.caps).to_dict())
        reply = GATEWAY_MESSAGE.validate_python((await channel.receive()).body)
        welcomed = time.perf_counter()
        if not isinstance(reply, Welcome):
            raise RuntimeError(f"probe {root}: {reply}")
        await channel.send(Bye(reason="probe").to_dict())
        await channel.close()
    return {"dial": dialled - started, "open": opened - dialled, "hello": welcomed - opened}


async def park_nodes(spec: dict[str, Any]) -> None:
    daemons: list[TimedDaemon] = []
    async with trio.open_nursery() as nursery:
        for root in spec["nodes"]:
            await trio.sleep(random.uniform(0, spec["retry_s"]))  # spreads the nodes' polling phases
            daemon = TimedDaemon(NodePaths(Path(root)))
            nursery.start_soon(daemon.run)
            with trio.fail_after(JOIN_TIMEOUT_S):
                await daemon.settled.wait()
            if daemon.failure is not None:
                raise RuntimeError(f"{root}: {daemon.failure}")
            daemons.append(daemon)
        steps: dict[str, list[float]] = {"dial": [], "open": [], "hello": []}
        for root in spec["probes"]:
            await trio.sleep(random.uniform(0, spec["retry_s"]))
            for step, seconds in (await probe_join(root)).items():
                steps[step].append(seconds)
        work = [await sandboxed_work(daemons[0].spec, n) for n in range(spec["work_samples"])]
        joins = [d.admitted_at - d.session_started for d in daemons]
        report({"joins": joins, "steps": steps, "work": work})
        await wait_for_stop()
        nursery.cancel_scope.cancel()


async def bare_client(port: int, token: str, steps: dict[str, list[float]], admitted: trio.Event) -> None:
    started = time.perf_counter()
    wire = JsonStream(await trio.open_tcp_stream("127.0.0.1", port))
    connected = time.perf_counter()
    await wire.send({"type": "hello", "token": token, "offer": CAPS.to_dict()})
    welcome = await wire.receive()
    if welcome["type"] != "welcome":
        raise RuntimeError(f"refused: {welcome}")
    welcomed = time.perf_counter()
    steps["dial"].append(connected - started)
    steps["hello"].append(welcomed - connected)
    steps["join"].append(welcomed - started)
    admitted.set()
    with suppress(EOFError, trio.BrokenResourceError):  # the server stopped: the run is over
        await bare_work_loop(wire)


async def bare_work_loop(wire: JsonStream) -> None:
    while True:
        await wire.send({"type": "request"})
        answer = await wire.receive()
        if answer["type"] == "idle":
            await trio.sleep(answer["retry_s"])
            continue
        completed = await bare_work(answer["app"], answer["payload"])
        ok = completed.returncode == 0
        output = json.loads(completed.stdout) if ok else {}
        await wire.send({"type": "result", "work_id": answer["work_id"], "ok": ok, "output": output})
        await wire.receive()


async def bare_nodes(spec: dict[str, Any]) -> None:
    steps: dict[str, list[float]] = {"dial": [], "hello": [], "join": []}
    async with trio.open_nursery() as nursery:
        for token in spec["tokens"]:
            await trio.sleep(random.uniform(0, spec["retry_s"]))  # spreads the nodes' polling phases
            admitted = trio.Event()
            nursery.start_soon(bare_client, spec["port"], token, steps, admitted)
            with trio.fail_after(JOIN_TIMEOUT_S):
                await admitted.wait()
        work = [await timed_bare_work(n) for n in range(spec["work_samples"])]
        report({"joins": steps.pop("join"), "steps": steps, "work": work})
        await wait_for_stop()
        nursery.cancel_scope.cancel()


def child_main(spec_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    trio.run(park_nodes if spec["role"] == "park" else bare_nodes, spec)


# ---------------------------------------------------------------- one side, measured


@dataclass(frozen=True)
class Snapshot:
    frames: int
    at: float
    gateway_cpu: float  # this process: the gateway's trio thread and its worker threads
    nodes_cpu: float  # the node process
    work_cpu: float  # the work processes it ran (counted once reaped)

    @classmethod
    def take(cls, side: Side, pid: int) -> Snapshot:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        utime, stime, cutime, cstime = (int(f) / os.sysconf("SC_CLK_TCK") for f in fields[11:15])
        return cls(
            side.recorder.frames, time.perf_counter(), time.process_time(), utime + stime, cutime + cstime
        )

    def until(self, later: Snapshot) -> Snapshot:
        """The differences: frames, seconds, CPU seconds of each process between two snapshots."""
        return Snapshot(
            later.frames - self.frames,
            later.at - self.at,
            later.gateway_cpu - self.gateway_cpu,
            later.nodes_cpu - self.nodes_cpu,
            later.work_cpu - self.work_cpu,
        )


@dataclass
class Measured:
    joins: list[float]
    steps: dict[str, list[float]]  # a join's steps: dial, open (Park only), hello
    admissions: list[float]  # the gateway's admission decision (Park: GatewayCore.hello)
    round_trips: list[tuple[float, float]]  # (submit -> leased, leased -> done)
    work: list[float]  # the work process alone
    units: int
    busy: Snapshot  # `units` units submitted at once, until the last is done
    flood: Snapshot  # request/idle back to back

    @property
    def totals(self) -> list[float]:
        return [wait + run for wait, run in self.round_trips]


def read_report(child: subprocess.Popen[str], log: Path) -> dict[str, Any]:
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith(MARK):
            value: dict[str, Any] = json.loads(line[len(MARK) :])
            return value
    child.wait(10)
    tail = "\n".join(log.read_text().splitlines()[-15:])
    raise RuntimeError(f"the node process exited ({child.returncode}) before joining:\n{tail}")


def wait_for(side: Side, work_ids: list[str], log: Path) -> None:
    missing = side.recorder.wait(work_ids)
    if missing:
        lines = [side.describe(work_id) for work_id in missing[:5]]
        tail = log.read_text().splitlines()[-10:]
        raise TimeoutError(
            "\n".join([f"{side.name}: {len(missing)} of {len(work_ids)} units not done", *lines, *tail])
        )


def measure(side: Side, args: argparse.Namespace, root: Path) -> Measured:
    root.mkdir(parents=True)
    spec = side.start(root, args.nodes) | {"work_samples": args.work_samples}
    (root / "spec.json").write_text(json.dumps(spec))
    log = root / "nodes.log"
    with log.open("w") as err:
        child = subprocess.Popen(
            [sys.executable, __file__, "--child", str(root / "spec.json")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        ready = read_report(child, log)
        round_trips = []
        for number in range(args.samples):
            time.sleep(random.uniform(0, args.idle_retry))
            work_id = side.submit(number)
            wait_for(side, [work_id], log)
            round_trips.append(side.round_trip(work_id))

        before = Snapshot.take(side, child.pid)
        wait_for(side, [side.submit(args.samples + n) for n in range(args.units)], log)
        busy = before.until(Snapshot.take(side, child.pid))

        side.set_idle_retry(0.0)  # every node now asks again as soon as it hears "idle"
        time.sleep(args.idle_retry + 0.3)
        before = Snapshot.take(side, child.pid)
        time.sleep(args.flood_seconds)
        flood = before.until(Snapshot.take(side, child.pid))
    finally:
        side.stop()  # first: a gateway left running redials the nodes that leave
        if child.poll() is None and child.stdin is not None:
            child.stdin.write("stop\n")
            child.stdin.close()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return Measured(
        joins=ready["joins"],
        steps=ready["steps"],
        admissions=side.recorder.admissions[: args.nodes],
        round_trips=round_trips,
        work=ready["work"],
        units=args.units,
        busy=busy,
        flood=flood,
    )


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class Row:
    name: str
    unit: str
    park: float
    bare: float | None  # None: the baseline has no such step
    note: str = ""


def rows_of(park: Measured, bare: Measured, nodes: int) -> list[Row]:
    def waits(m: Measured) -> list[float]:
        return [wait for wait, _ in m.round_trips]

    def runs(m: Measured) -> list[float]:
        return [run for _, run in m.round_trips]

    def per_unit_ms(m: Measured, cpu: Callable[[Snapshot], float]) -> float:
        return cpu(m.busy) / m.units * 1e3

    def per_exchange_us(m: Measured, cpu: Callable[[Snapshot], float]) -> float:
        return cpu(m.flood) / (m.flood.frames / 2) * 1e6

    gateway, nodes_cpu, work = (attrgetter(f"{what}_cpu") for what in ("gateway", "nodes", "work"))
    probes = f"{len(park.steps['dial'])} hand-made joins"
    return [
        Row("join: session start -> admitted, median", "ms", median_ms(park.joins), median_ms(bare.joins)),
        Row(f"join p95 ({nodes} nodes)", "ms", p95_ms(park.joins), p95_ms(bare.joins)),
        Row(
            "  dial (Park: TCP, Noise, yamux), median",
            "ms",
            median_ms(park.steps["dial"]),
            median_ms(bare.steps["dial"]),
            f"Park: {probes}",
        ),
        Row("  open the /park/work/1.0.0 stream, median", "ms", median_ms(park.steps["open"]), None, probes),
        Row(
            "  hello -> welcome, median",
            "ms",
            median_ms(park.steps["hello"]),
            median_ms(bare.steps["hello"]),
            f"Park: {probes}",
        ),
        Row("    of which GatewayCore.hello, median", "ms", median_ms(park.admissions), None, "token, store"),
        Row(
            "work round trip: submit -> done, median",
            "ms",
            median_ms(park.totals),
            median_ms(bare.totals),
            "sha256-chain rounds=1, one at a time",
        ),
        Row(
            f"work round trip p95 ({len(park.totals)} units)", "ms", p95_ms(park.totals), p95_ms(bare.totals)
        ),
        Row(
            "  submit -> leased, median",
            "ms",
            median_ms(waits(park)),
            median_ms(waits(bare)),
            "waiting for some node's next request",
        ),
        Row(
            "  leased -> done, median",
            "ms",
            median_ms(runs(park)),
            median_ms(runs(bare)),
            "lease, work, result",
        ),
        Row(
            "    the work process alone, median",
            "ms",
            median_ms(park.work),
            median_ms(bare.work),
            "Park: sandbox prepare, limits, run, cleanup",
        ),
        Row(
            f"messages/s, all {nodes} nodes busy with work",
            "frames/s",
            park.busy.frames / park.busy.at,
            bare.busy.frames / bare.busy.at,
            f"{park.units} units submitted at once",
        ),
        Row("  work units/s", "units/s", park.units / park.busy.at, bare.units / bare.busy.at),
        Row(
            "  frames per unit",
            "frames",
            park.busy.frames / park.units,
            bare.busy.frames / bare.units,
            "4, plus idle polls and any other exchanges",
        ),
        Row("  CPU per unit: gateway process", "ms", per_unit_ms(park, gateway), per_unit_ms(bare, gateway)),
        Row("  CPU per unit: node process", "ms", per_unit_ms(park, nodes_cpu), per_unit_ms(bare, nodes_cpu)),
        Row("  CPU per unit: work processes", "ms", per_unit_ms(park, work), per_unit_ms(bare, work)),
        Row(
            f"messages/s, all {nodes} nodes polling back to back",
            "frames/s",
            park.flood.frames / park.flood.at,
            bare.flood.frames / bare.flood.at,
            "request/idle with idle retry 0, no work",
        ),
        Row(
            "  CPU per exchange: gateway process",
            "µs",
            per_exchange_us(park, gateway),
            per_exchange_us(bare, gateway),
        ),
        Row(
            "  CPU per exchange: node process",
            "µs",
            per_exchange_us(park, nodes_cpu),
            per_exchange_us(bare, nodes_cpu),
        ),
    ]


def best_of(runs: list[list[Row]]) -> list[Row]:
    """Per row and side, the best run: the machine's noise only ever makes a run slower."""
    merged = []
    for rows in zip(*runs, strict=True):
        pick = max if rows[0].unit.endswith("/s") else min
        bare = None if rows[0].bare is None else pick(r.bare or 0.0 for r in rows)
        merged.append(replace(rows[0], park=pick(r.park for r in rows), bare=bare))
    return merged


def render(rows: list[Row], args: argparse.Namespace, policy: GatewayPolicy, seconds: float) -> None:
    console = Console(width=None if sys.stdout.isatty() else 150)
    best = f", best of {args.repeat}" if args.repeat > 1 else ""
    title = f"Park federation vs bare TCP: {args.nodes} nodes on loopback, {seconds:.0f} s{best}"
    table = Table(title=title)
    for column in ("metric", "unit", "Park", "bare TCP", "Park/bare", "note"):
        table.add_column(column, justify="left" if column in ("metric", "note") else "right")
    for row in rows:
        decimals = 2 if row.unit == "ms" and row.park < 10 else 1 if row.unit in ("ms", "frames") else 0
        bare = "—" if row.bare is None else f"{row.bare:,.{decimals}f}"
        ratio = "" if not row.bare else f"{row.park / row.bare:.2f}"
        table.add_row(row.name, row.unit, f"{row.park:,.{decimals}f}", bare, ratio, row.note)
    console.print(table)
    console.print(
        f"Settings: GatewayPolicy heartbeat {policy.heartbeat_s:g} s, lease {policy.lease_s:g} s, idle retry "
        f"{policy.idle_retry_s:g} s (both sides), offline after {policy.offline_after_s:g} s, last-seen "
        f"writes every {policy.last_seen_write_s:g} s; gateway tick {TICK_S:g} s. Nodes: runAs self, "
        f"isolateNetwork false, caps {CAPS.cpus:g} cpus / {CAPS.memory_gib:g} GiB. Gateway in a thread of "
        "this process, nodes in one child process (one trio run), each unit's work in its own process; "
        f"joins one at a time, a random 0-{policy.idle_retry_s:g} s apart."
    )
    console.print(
        "Park/bare: for times, how many times longer Park takes than bare TCP; for rates, the share of "
        "bare TCP's rate that Park reaches (both 1.00 = no overhead). The difference is what Park adds: "
        "libp2p (multistream-select, Noise, yamux), an Ed25519 signature and a SHA-256 on every frame, "
        "pydantic messages, the join-token check, the SQLite work queue and FederatedNode status writes, "
        "the sandbox set-up and the node daemon's status file. 'submit -> leased' is how long until some "
        "node next asks for work, which depends on where the nodes happen to be in their idle cycle (noise, "
        "on both sides); 'leased -> done' is the comparable part of a round trip."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20, help="node daemons (and baseline clients)")
    parser.add_argument("--units", type=int, default=200, help="work units submitted at once (busy phase)")
    parser.add_argument("--samples", type=int, default=60, help="work units timed one at a time")
    parser.add_argument("--work-samples", type=int, default=10, help="work processes timed alone")
    parser.add_argument("--flood-seconds", type=float, default=3.0, help="back-to-back polling phase")
    parser.add_argument("--idle-retry", type=float, default=0.2, help="GatewayPolicy.idle_retry_s")
    parser.add_argument("--repeat", type=int, default=1, help="runs of both sides; each row shows its best")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    # py-libp2p 0.8.1 queues every announcement the gateway relays for each node that does not subscribe
    # to the announce topic (no node does) and warns for each one past 100 queued: after ~25 s with 20
    # nodes, dozens of lines a second (see docs/benchmarks.md). Measured all the same; not printed.
    logging.getLogger("libp2p.pubsub.gossipsub").setLevel(logging.ERROR)
    policy = GatewayPolicy(idle_retry_s=args.idle_retry)
    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="park-fed-bench-") as tmp:
        for run in range(args.repeat):  # alternating, so a busy spell of the machine hits both sides
            bare = measure(BareSide(policy), args, Path(tmp) / f"bare-{run}")
            park = measure(ParkSide(policy), args, Path(tmp) / f"park-{run}")
            runs.append(rows_of(park, bare, args.nodes))
    render(best_of(runs), args, policy, time.perf_counter() - started)


if __name__ == "__main__":
    main()
