"""One job lifecycle, two substrates: the same test, through the same CLI, on `park up` and on Kubernetes
(see platforms.py). The job is the checkpointing example, run from this checkout (which the real node's
pods mount), so its report, checkpoint (a directory, or s3:// in MinIO), preemption, resume and
evaluation gates are compared like for like.
"""

from __future__ import annotations

import json

import pytest

from park.core.resources import ParkJob
from park.workloads import artifacts
from tests.integration.conftest import wait_for

from .conftest import REPO
from .platforms import Platform, kubernetes, operator, park_up, platform

pytestmark = pytest.mark.e2e
__all__ = ["kubernetes", "operator", "park_up", "platform"]  # fixtures
COUNTER = REPO / "examples" / "checkpointing" / "counter.py"
STEPS = 40


def counter_job() -> str:
    return f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: counter}}
spec:
  entrypoint: python {COUNTER} --steps {STEPS} --every 5 --step-seconds 0.4
  checkpoint: {{preemptionGraceSeconds: 20}}
"""


def test_a_suspended_job_checkpoints_and_resumes_where_it_stopped(platform: Platform) -> None:
    applied = platform.cli("apply", "-f", "-", stdin=counter_job())
    assert applied.returncode == 0, applied.stderr

    def progressed() -> bool:
        job = platform.get("ParkJob", "default", "counter")
        return job.status.phase == "Running" and int(job.status.report.get("step", 0)) >= 10

    wait_for(progressed, timeout=240, what="the counter to pass step 10")
    suspended = platform.cli("suspend", "job", "counter")
    assert suspended.returncode == 0, suspended.stderr
    preempted = platform.wait_phase("ParkJob", "default", "counter", {"Preempted", "Failed"}, timeout=90)
    assert isinstance(preempted, ParkJob)
    assert preempted.status.phase == "Preempted", preempted.status.message
    assert preempted.status.report["preempted"] is True
    checkpoint = preempted.status.checkpoint
    assert checkpoint is not None and artifacts.exists(artifacts.join(checkpoint, "state.json"))
    stopped_at = int(preempted.status.report["step"])
    assert 10 <= stopped_at < STEPS
    assert preempted.status.report["total"] == stopped_at * (stopped_at + 1) // 2

    assert platform.cli("resume", "job", "counter").returncode == 0
    done = platform.wait_phase("ParkJob", "default", "counter", {"Succeeded", "Failed"}, timeout=240)
    assert isinstance(done, ParkJob)
    assert (done.status.phase, done.status.attempt, done.status.failed_attempts) == ("Succeeded", 2, 0)
    assert done.status.report["total"] == STEPS * (STEPS + 1) // 2  # no step lost, none counted twice
    assert f"resuming at step {stopped_at}" in platform.cli("logs", "job", "counter").stdout
    listed = json.loads(platform.cli("get", "job", "counter", "-o", "json").stdout)
    assert listed["status"]["checkpoint"] == done.status.checkpoint
    assert platform.cli("delete", "job", "counter").returncode == 0


GATED = """
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: gated}
spec:
  entrypoint: >-
    python -c "from park.workloads.contract import JobContext;
    JobContext.from_env().report(gate='failed', reason='accuracy 0.41 below the gate of 0.60', accuracy=0.41)"
  retries: 2
"""


def test_a_failed_evaluation_gate_fails_the_job_without_retries(platform: Platform) -> None:
    applied = platform.cli("apply", "-f", "-", stdin=GATED)
    assert applied.returncode == 0, applied.stderr
    failed = platform.wait_phase("ParkJob", "default", "gated", {"Succeeded", "Failed"}, timeout=240)
    assert isinstance(failed, ParkJob)
    assert failed.status.phase == "Failed" and failed.status.attempt == 1, "a gate is not retried"
    assert failed.status.message == "evaluation gate failed: accuracy 0.41 below the gate of 0.60"
    assert failed.status.report["accuracy"] == 0.41
    assert "FailedGate" in platform.cli("describe", "job", "gated").stdout
    assert platform.cli("delete", "job", "gated").returncode == 0
