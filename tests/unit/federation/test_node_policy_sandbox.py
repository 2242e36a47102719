"""The owner's controls (windows, pause, load), the sandbox command line, and the node config file."""

from __future__ import annotations

import os
import sys
from datetime import time
from pathlib import Path

import pytest

from park.core.errors import InvalidError
from park.core.resources import NodeCapabilities
from park.federation import apps, sandbox
from park.federation.config import NodeConfig, NodePaths
from park.federation.policy import TimeWindow, may_work


def test_time_windows_wrap_past_midnight() -> None:
    night = TimeWindow.parse("18:00-08:00")
    assert night.contains(time(23, 59)) and night.contains(time(0, 0)) and night.contains(time(7, 59))
    assert not night.contains(time(8, 0)) and not night.contains(time(12, 0))
    day = TimeWindow.parse("09:00-17:30")
    assert day.contains(time(9, 0)) and not day.contains(time(17, 30))
    for bad in ("9-17", "25:00-01:00", "10:00-10:00"):
        with pytest.raises(InvalidError):
            TimeWindow.parse(bad)


def test_may_work_says_why_not() -> None:
    night = [TimeWindow.parse("18:00-08:00")]
    base = {"now": time(22, 0), "windows": night, "paused": False, "draining": False, "load": 0.1}
    assert may_work(**base, busy_load=1.0).work  # type: ignore[arg-type]
    assert "allowed hours" in may_work(**{**base, "now": time(12, 0)}, busy_load=None).reason  # type: ignore[arg-type]
    assert "owner" in may_work(**{**base, "paused": True}, busy_load=None).reason  # type: ignore[arg-type]
    assert "in use" in may_work(**{**base, "load": 3.0}, busy_load=1.5).reason  # type: ignore[arg-type]
    assert may_work(**{**base, "draining": True}, busy_load=None).reason == "draining"  # type: ignore[arg-type]


def test_the_sandbox_has_no_network_a_gpu_mask_and_a_copy_of_the_apps(tmp_path: Path) -> None:
    spec = sandbox.SandboxSpec(
        python=sys.executable, run_as=None, isolate_network=True,
        caps=NodeCapabilities(gpus=2, gpu_memory_gib=8, cpus=3), cpu_seconds=60,
    )  # fmt: skip
    prepared = sandbox.prepare(spec, "sha256-chain", {"seed": "s", "rounds": 3}, root=tmp_path)
    assert prepared.argv[:2] == ["unshare", "--net"]
    assert prepared.argv[-4:] == ["-I", "-S", str(prepared.workdir / "apps.py"), "sha256-chain"]
    assert (os.geteuid() != 0) == ("--map-current-user" in prepared.argv)
    assert prepared.env["CUDA_VISIBLE_DEVICES"] == "0,1" and prepared.env["OMP_NUM_THREADS"] == "3"
    assert "PARK" not in "".join(k for k in prepared.env if k != "PARK_GPU_MEMORY_GIB")
    sandbox.cleanup(prepared)
    assert not prepared.workdir.exists()
    with pytest.raises(InvalidError, match="no app"):
        sandbox.prepare(spec, "rm-rf", {}, root=tmp_path)


def test_apps_are_deterministic_and_reject_bad_payloads() -> None:
    first = apps.sha256_chain({"seed": "x", "rounds": 3})
    assert first == apps.sha256_chain({"seed": "x", "rounds": 3}) and first["rounds"] == 3
    with pytest.raises(ValueError, match="rounds"):
        apps.sha256_chain({"seed": "x", "rounds": 0})


def test_node_config_errors_are_one_line(tmp_path: Path) -> None:
    paths = NodePaths(tmp_path)
    with pytest.raises(InvalidError, match="park node init"):
        paths.load_config()
    paths.config.write_text("caps: {cpus: [1\n")
    with pytest.raises(InvalidError, match="malformed YAML"):
        paths.load_config()
    paths.config.write_text("caps: {cpus: 1}\nwindows: ['8-5']\n")
    with pytest.raises(InvalidError, match="windows"):
        paths.load_config()
    paths.config.write_text("bogus: 1\n")
    with pytest.raises(InvalidError, match="bogus"):
        paths.load_config()
    paths.save_config(NodeConfig(token="pj1.a.b"))
    assert paths.config.stat().st_mode & 0o777 == 0o600  # it holds a token
    assert paths.load_config().run_as == "nobody"
