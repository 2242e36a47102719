"""Processes and ports of a local Ray head: `ray start --head --block` in its own session.

The head is spawned with `os.posix_spawn(setsid=True)` rather than `subprocess.Popen`: it must
outlive the control plane (a SIGKILLed `park up` finds it again), so it is not "our subprocess" in
Python's bookkeeping; a `Popen` dropped while its child runs raises ResourceWarning. Zombies of
our own children are reaped in `pid_alive`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from park.core.processes import pid_alive
from park.substrates.interface import HeadConfig

logger = logging.getLogger(__name__)

DEFAULT_OBJECT_STORE_BYTES = 256 * 1024 * 1024  # /dev/shm is small on laptops and in containers
# Worker ports live below the kernel's ephemeral range (32768+ on Linux) and above Ray's default
# worker range (10002-19999), so they collide neither with bind(0) ports nor with other Ray heads.
_WORKER_PORTS_LOW = 20000
_WORKER_PORTS_HIGH = 32767
_NAMED_PORTS = (
    "port",
    "dashboard-port",
    "ray-client-server-port",
    "node-manager-port",
    "object-manager-port",
    "dashboard-agent-grpc-port",
    "dashboard-agent-listen-port",
    "metrics-export-port",
    "runtime-env-agent-port",
)


@dataclass(frozen=True)
class HeadPorts:
    named: dict[str, int]  # `ray start` flag name (without --) -> port
    min_worker_port: int
    max_worker_port: int
    serve: int  # Ray Serve's HTTP proxy: not a `ray start` flag, Park passes it in every Serve deploy

    @property
    def dashboard(self) -> int:
        return self.named["dashboard-port"]

    @property
    def gcs(self) -> int:
        return self.named["port"]


def choose_ports(*, num_workers_hint: float, seed: str) -> HeadPorts:
    """Free ports for every listener of one head, so several heads can share a machine."""
    with _bound_sockets(len(_NAMED_PORTS) + 1) as ports:
        named = dict(zip(_NAMED_PORTS, ports[:-1], strict=True))
    size = min(4000, max(200, int(num_workers_hint) * 8))
    low = _free_worker_range(size=size, seed=seed)
    return HeadPorts(named=named, min_worker_port=low, max_worker_port=low + size - 1, serve=ports[-1])


@contextlib.contextmanager
def _bound_sockets(count: int) -> Iterator[list[int]]:
    # All sockets stay bound until every port is chosen, so the ports are distinct.
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("0.0.0.0", 0))  # noqa: S104 - probing, Ray binds some listeners on all addresses
        yield [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _free_worker_range(*, size: int, seed: str) -> int:
    slots = (_WORKER_PORTS_HIGH - _WORKER_PORTS_LOW + 1) // size
    rng = random.Random(seed)  # deterministic per cluster: easier to recognise in `ss` output
    for _ in range(3 * slots):
        low = _WORKER_PORTS_LOW + rng.randrange(slots) * size
        if all(_port_free(port) for port in range(low, low + size)):
            return low
    raise OSError(f"no free range of {size} worker ports between {_WORKER_PORTS_LOW} and 32767")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - probing only
        except OSError:
            return False
    return True


def head_argv(*, ray: str, config: HeadConfig, ports: HeadPorts, temp_dir: Path) -> list[str]:
    argv = [
        ray,
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        "--include-dashboard=true",
        "--disable-usage-stats",
        "--log-color=false",
        "--log-style=record",
        f"--temp-dir={temp_dir}",
        f"--num-cpus={_whole_cpus(config.num_cpus)}",
        f"--num-gpus={config.num_gpus}",
        f"--object-store-memory={config.object_store_bytes or DEFAULT_OBJECT_STORE_BYTES}",
        f"--min-worker-port={ports.min_worker_port}",
        f"--max-worker-port={ports.max_worker_port}",
    ]
    argv += [f"--{flag}={port}" for flag, port in ports.named.items()]
    if config.memory_bytes is not None:
        argv.append(f"--memory={config.memory_bytes}")
    if config.custom_resources:
        argv.append(f"--resources={json.dumps(config.custom_resources, sort_keys=True)}")
    return argv


def _whole_cpus(value: float) -> str:
    # `ray start --num-cpus` takes an integer (and refuses CPU in --resources): round up, so a
    # cluster asking for 500m still gets a head that can run a task.
    return str(math.ceil(value))


def head_env(*, token_path: Path, base: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in {"RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"}}
    # Job entrypoints say `python ...`: it must be the interpreter Park and Ray run in (its
    # virtualenv), not whatever `python` the user's shell happens to have first on PATH.
    interpreter_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([interpreter_dir, *[p for p in env.get("PATH", "").split(os.pathsep) if p]])
    env["RAY_AUTH_MODE"] = "token"
    env["RAY_AUTH_TOKEN_PATH"] = str(token_path)
    # Keep the head on loopback: on Linux Ray rewrites `--node-ip-address=127.0.0.1` to the machine's
    # external address (and so every job's RAY_ADDRESS) unless multi-node clustering is off, as it is by
    # default on macOS. An embedded head is one node: nothing ever joins it.
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    # A single local node has nowhere to drain to; without this, SIGTERM waits up to 30 s.
    env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"
    return env


def spawn_head(*, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> int:
    """Start `ray start --block` as a session leader (so its pgid is its pid); return the pid."""
    with log_path.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        return os.posix_spawn(
            argv[0],
            list(argv),
            dict(env),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
            ],
            setsid=True,
        )


def is_ray_head(pid: int) -> bool:
    """Guard against pid reuse before signalling a recorded pid."""
    if not pid_alive(pid):
        return False
    command = _ps(["-o", "command=", "-p", str(pid)]).strip()
    return "ray" in command and "start" in command and "--head" in command


def descendants(pid: int) -> list[int]:
    """All processes below `pid`, including job drivers that Ray starts in their own sessions."""
    children: dict[int, list[int]] = {}
    for line in _ps(["-A", "-o", "pid=,ppid="]).splitlines():
        fields = line.split()
        if len(fields) == 2:
            children.setdefault(int(fields[1]), []).append(int(fields[0]))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _ps(args: list[str]) -> str:
    result = subprocess.run(["ps", *args], capture_output=True, text=True, check=False)
    return result.stdout


def stop_head(pid: int, *, grace_s: float = 15.0) -> None:
    """SIGTERM the head (Ray then stops its processes in order), then SIGKILL what is left.

    Only the `ray start` process gets SIGTERM: its handler shuts down raylet, GCS and dashboard,
    and the raylet ends the job drivers, which run in sessions of their own.
    """
    if not is_ray_head(pid):
        return
    tree = descendants(pid)
    logger.info("stopping Ray head pid %d (%d processes)", pid, len(tree) + 1)
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _any_alive([pid, *tree]):
        time.sleep(0.2)
    if not _any_alive([pid, *tree]):
        return
    logger.warning("Ray head pid %d did not stop within %.0f s; killing it", pid, grace_s)
    kill_head(pid, tree=tree)


def kill_head(pid: int, *, tree: Sequence[int] | None = None) -> None:
    """SIGKILL the head's process group and every process that was below it."""
    tree = descendants(pid) if tree is None else tree
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for child in tree:
        _signal(child, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and _any_alive([pid]):
        time.sleep(0.05)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _any_alive(pids: Sequence[int]) -> bool:
    """Zombies count as gone: where PID 1 does not reap (some containers) they never leave."""
    for pid in pids:
        pid_alive(pid)  # reap our own exited children
    running = set()
    for line in _ps(["-A", "-o", "pid=,stat="]).splitlines():
        fields = line.split()
        if len(fields) == 2 and not fields[1].startswith("Z"):
            running.add(int(fields[0]))
    return any(pid in running for pid in pids)


def log_tail(path: Path, *, lines: int = 3) -> str:
    """The last lines of a log, joined into one line for an error message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(empty log)"
