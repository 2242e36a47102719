"""`park up` runs the federation gateway: a volunteer node joins through the CLI, runs work in the
sandbox (as an unprivileged user, without network), and the work survives a control-plane restart.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from park.federation.identity import Identity
from tests.integration.conftest import REPO, ParkUp, _stop_leftover_heads, wait_for

pytestmark = pytest.mark.timeout(600)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def platform(park_up: ParkUp) -> ParkUp:
    """`park up` with a fixed federation port, so nodes find the gateway again after a restart."""
    park_up.stop()
    park_up.env["PARK_FEDERATION_PORT"] = str(_free_port())
    park_up.start()
    return park_up


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


def test_a_volunteer_joins_through_the_cli_and_work_survives_a_restart(
    platform: ParkUp, tmp_path: Path
) -> None:
    node_dir = tmp_path / "node"
    init = platform.cli("node", "init", "--dir", str(node_dir), "--cpus", "1")
    assert init.returncode == 0, init.stderr
    peer_id = Identity.load(node_dir / "node.key").peer_id
    assert peer_id in init.stdout
    invite = platform.cli("federation", "invite", "volunteer", "--peer-id", peer_id, "--ttl", "10m")
    assert invite.returncode == 0, invite.stderr
    token = invite.stdout.strip()
    assert token.startswith("pj1.")
    log = (tmp_path / "node.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "park", "node", "run", "--dir", str(node_dir), "--token", token, "-v"],
        env=platform.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: platform.get("FederatedNode", None, "volunteer").status.phase == "Online",
                 timeout=60, what="the node Online")  # fmt: skip
        listing = platform.cli("get", "nodes")
        assert "volunteer" in listing.stdout and "Online" in listing.stdout
        probe = platform.cli("federation", "submit", "probe", "--payload", '{"connect": "127.0.0.1:22"}')
        probe_id = probe.stdout.strip()
        done = wait_for(lambda: _finished(platform, probe_id), timeout=60, what="the probe")
        assert isinstance(done, dict) and done["state"] == "done", done
        output = done["output"]
        assert isinstance(output, dict)
        assert output["uid"] != 0 and output["reachable"] is False  # unprivileged, no network
        (row,) = [line for line in platform.cli("federation", "work").stdout.splitlines() if probe_id in line]
        assert row.split()[4] == "volunteer"  # NODE: the node's name, not a piece of its peer ID

        assert platform.cli("node", "pause", "--dir", str(node_dir)).returncode == 0
        wait_for(lambda: platform.get("FederatedNode", None, "volunteer").status.phase == "Paused",
                 timeout=30, what="the node Paused")  # fmt: skip
        assert platform.cli("node", "resume", "--dir", str(node_dir)).returncode == 0
        wait_for(lambda: platform.get("FederatedNode", None, "volunteer").status.phase == "Online",
                 timeout=30, what="the node Online again")  # fmt: skip

        # A long unit (~10 s, so the poll sees it leased), then the control plane is killed mid-lease.
        unit = platform.cli(
            "federation", "submit", "sha256-chain", "--payload", '{"seed": "r", "rounds": 20000000}'
        )
        unit_id = unit.stdout.strip()
        wait_for(lambda: _state(platform, unit_id) == "leased", timeout=60, what="the lease")
        platform.kill()
        platform.start()
        done = wait_for(lambda: _finished(platform, unit_id), timeout=180, what="the unit after the restart")
        assert isinstance(done, dict) and done["state"] == "done", done
        assert done["completedBy"] == peer_id and done["output"]["rounds"] == 20_000_000  # type: ignore[index]
        status = _json(platform.cli("node", "status", "--dir", str(node_dir), "-o", "json"))
        assert status["node"] == "volunteer" and status["running"] is True
    finally:
        daemon.send_signal(signal.SIGTERM)  # drain: leave cleanly
        try:
            assert daemon.wait(60) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
            log.close()
            _stop_leftover_heads(platform.state_dir)
    assert platform.get("FederatedNode", None, "volunteer").status.message == "left: drained"


def _state(platform: ParkUp, unit_id: str) -> str | None:
    result = platform.cli("federation", "work", unit_id)
    return str(json.loads(result.stdout)["state"]) if result.returncode == 0 else None


def _finished(platform: ParkUp, unit_id: str) -> dict[str, object] | None:
    result = platform.cli("federation", "work", unit_id)
    if result.returncode != 0:
        return None
    unit = json.loads(result.stdout)
    return unit if unit["state"] in ("done", "failed") else None
