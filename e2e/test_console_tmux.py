"""`park console` in a real terminal: tmux runs it, the test types keys and reads the pane.

Opt-in (`python -m pytest e2e/test_console_tmux.py`): it needs tmux, and it checks what no pilot
can, that the installed command starts, draws in a real terminal of 80x24, answers keys and quits.
The API is the in-process one of the console's integration tests (real HTTP, a fixed store).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.ui.fixtures import populate
from tests.integration.ui.served import TOKEN, ServedApi, served

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

REPO = Path(__file__).resolve().parents[1]


class Tmux:
    """One private tmux server (its own socket), so the test never touches a user's sessions."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout

    def pane(self) -> str:
        return self("capture-pane", "-p", "-t", "console")

    def wait_for(self, *texts: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.pane()
            if all(text in screen for text in texts):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {texts}; the pane shows:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        """Type like a person, a key at a time (tmux would otherwise deliver a word in one read)."""
        for key in keys:
            for part in [key] if key in ("Enter", "Escape") else list(key):
                self("send-keys", "-t", "console", *(["-l"] if part not in ("Enter", "Escape") else []), part)
                time.sleep(0.4 if part == "Escape" else 0.05)  # ESC then a key soon after reads as alt+key


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ServedApi]:
    with served(tmp_path) as running:
        populate(running)
        yield running


@pytest.fixture
def tmux(api: ServedApi) -> Iterator[Tmux]:
    session = Tmux(f"park-e2e-{os.getpid()}")
    command = f"{sys.executable} -m park console"
    env = {"PARK_SERVER": api.url, "PARK_TOKEN": TOKEN, "PYTHONPATH": str(REPO), "TERM": "xterm-256color"}
    exports = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    session("new-session", "-d", "-s", "console", "-x", "80", "-y", "24", "-c", str(REPO), *exports, command)
    yield session
    session("kill-server")


def test_park_console_draws_answers_keys_and_quits_in_a_real_terminal(tmux: Tmux, api: ServedApi) -> None:
    screen = tmux.wait_for("● live", "train-lm", "healthz: ok")
    assert "jobs (4)" in screen
    tmux.keys(":", "queues", "Enter")
    tmux.wait_for("queues (2)", "6/4+2")
    tmux.keys(":", "jobs", "Enter")
    tmux.wait_for("jobs (4)")
    tmux.keys("/", "train")
    tmux.wait_for("jobs (1/4)", "train-lm")
    tmux.keys("Enter", "d")
    tmux.wait_for("describe ParkJob default/train-lm", "Status")
    tmux.keys("q")
    tmux.wait_for("jobs (1/4)")
    tmux.keys("s")
    tmux.wait_for("Suspend job default/train-lm?")
    tmux.keys("y")
    tmux.wait_for("Running (suspending)")  # no controllers here: the spec changed, the phase did not
    job = api.store.get("ParkJob", "default", "train-lm")
    assert getattr(job.spec, "suspend", None) is True
    tmux.keys("Escape", "q")
    deadline = time.monotonic() + 15
    while "console" in tmux("list-sessions") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "console" not in tmux("list-sessions"), f"q did not quit the console:\n{tmux.pane()}"
