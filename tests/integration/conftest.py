"""Integration fixtures: a real `park up` (real local Ray head, SQLite, uvicorn) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest

from park.client import ParkClient
from park.core.resources import AnyResource

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class ParkUp:
    """One `park up` process over a state directory; it can be killed and started again."""

    state_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.state_dir.parent / f"{self.state_dir.name}-park-up.log"

    def start(self, *, wait_for_cluster: bool = True) -> None:
        server_file = self.state_dir / "server.json"
        server_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            process = self.process = subprocess.Popen(
                [sys.executable, "-m", "park", "up", "--port", "0", "--cpus", "2"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        wait_for(lambda: server_file.exists() or process.poll() is not None, timeout=60, what="park up")
        if process.poll() is not None:
            raise AssertionError(
                f"park up exited {self.process.returncode}: {self.log_path.read_text()[-2000:]}"
            )
        if wait_for_cluster:
            self.wait_phase("ParkCluster", "default", "default", {"Ready"}, timeout=180)

    @property
    def url(self) -> str:
        return str(json.loads((self.state_dir / "server.json").read_text())["url"])

    def client(self) -> ParkClient:
        return ParkClient(self.url, (self.state_dir / "admin.token").read_text().strip())

    def get(self, kind: str, namespace: str | None, name: str) -> AnyResource:
        with self.client() as client:
            return client.get(kind, namespace, name)

    def wait_phase(
        self, kind: str, namespace: str | None, name: str, phases: set[str], *, timeout: float
    ) -> AnyResource:
        def reached() -> AnyResource | None:
            obj = self.get(kind, namespace, name)
            return obj if obj.status.phase in phases else None

        return cast(AnyResource, wait_for(reached, timeout=timeout, what=f"{kind} {name} to reach {phases}"))

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        return self.process.returncode

    def cli(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "park", *args],
            env=env or self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            check=False,
        )


def _stop_leftover_heads(state_dir: Path) -> None:
    """Whatever a test left running (a head adopted after SIGKILL) is stopped by its process group."""
    for head in (state_dir / "ray").glob("*/head.json"):
        try:
            pgid = int(json.loads(head.read_text()).get("pgid") or json.loads(head.read_text())["pid"])
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, ValueError, KeyError, PermissionError):
            pass


@pytest.fixture(scope="module")
def park_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ParkUp]:
    state_dir = tmp_path_factory.mktemp("park") / "state"
    env = {
        **os.environ,
        "PARK_STATE_DIR": str(state_dir),
        "PARK_CLUSTER_CHECK_SECONDS": "1",
        "PARK_RESYNC_SECONDS": "5",
        "PARK_SCHEDULER_MIN_RUNTIME_SECONDS": "1",
        "PARK_FEDERATION_PORT": "0",
        # As a user who runs `.../venv/bin/park up` without activating the venv: job entrypoints that
        # say `python` must still get the interpreter Park runs in.
        "PATH": "/usr/bin:/bin",
        # Serve applications in tests (tests/integration/serve_apps.py) import from the repository.
        "PYTHONPATH": str(REPO),
    }
    env.pop("PARK_SERVER", None)
    env.pop("PARK_TOKEN", None)
    platform = ParkUp(state_dir=state_dir, env=env)
    platform.start()
    yield platform
    platform.stop()
    _stop_leftover_heads(state_dir)
