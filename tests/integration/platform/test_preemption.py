"""Preempting a running job through `park suspend`, and resuming it from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from park.core.resources import ParkJob
from tests.integration.conftest import REPO, ParkUp, wait_for

pytestmark = pytest.mark.integration

COUNTER = REPO / "examples" / "checkpointing"
STEPS = 40


def counter_job(name: str) -> str:
    return f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: {name}}}
spec:
  entrypoint: python counter.py --steps {STEPS} --every 5 --step-seconds 0.2
  runtimeEnv: {{working_dir: {COUNTER}}}
  checkpoint: {{preemptionGraceSeconds: 20}}
"""


def test_a_preempted_job_checkpoints_then_resumes_where_it_stopped(park_up: ParkUp) -> None:
    assert park_up.cli("apply", "-f", "-", stdin=counter_job("counter")).returncode == 0

    def progressed() -> bool:
        job = park_up.get("ParkJob", "default", "counter")
        return job.status.phase == "Running" and int(job.status.report.get("step", 0)) >= 10

    wait_for(progressed, timeout=120, what="the counter to pass step 10")
    suspended = park_up.cli("suspend", "job", "counter")
    assert suspended.returncode == 0, suspended.stderr
    preempted = park_up.wait_phase("ParkJob", "default", "counter", {"Preempted", "Failed"}, timeout=60)
    assert isinstance(preempted, ParkJob)
    assert preempted.status.phase == "Preempted", preempted.status.message
    assert preempted.status.report["preempted"] is True
    checkpoint = preempted.status.checkpoint
    assert checkpoint is not None and Path(checkpoint).exists()
    stopped_at = int(preempted.status.report["step"])
    assert 10 <= stopped_at < STEPS
    assert preempted.status.report["total"] == stopped_at * (stopped_at + 1) // 2  # not an earlier step's

    assert park_up.cli("resume", "job", "counter").returncode == 0
    done = park_up.wait_phase("ParkJob", "default", "counter", {"Succeeded", "Failed"}, timeout=120)
    assert isinstance(done, ParkJob)
    assert (done.status.phase, done.status.attempt, done.status.failed_attempts) == ("Succeeded", 2, 0)
    assert done.status.report["total"] == STEPS * (STEPS + 1) // 2  # no step lost, none counted twice
    assert f"resuming at step {stopped_at}" in park_up.cli("logs", "job", "counter").stdout
    with park_up.client() as client:
        reasons = [e["reason"] for e in client.events("ParkJob", "default", "counter")]
    assert reasons.count("Submitted") == 2
    assert "Preempting" in reasons and "Preempted" in reasons
