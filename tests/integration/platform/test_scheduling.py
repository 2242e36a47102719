"""The scheduler in the embedded platform: a high-priority job preempts a low-priority one holding the
queue's CPUs; the victim checkpoints, waits, is readmitted, resumes and finishes."""

from __future__ import annotations

import pytest

from park.core.resources import ParkJob
from tests.integration.conftest import REPO, ParkUp, wait_for

pytestmark = pytest.mark.integration

COUNTER = REPO / "examples" / "checkpointing"
QUEUE = """
apiVersion: park.dev/v1alpha1
kind: ParkQueue
metadata: {name: research}
spec:
  nominalQuota: {cpu: 2}
  preemption: {withinQueue: LowerPriority}
"""


def counter_job(name: str, *, priority: int, steps: int) -> str:
    return f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: {name}}}
spec:
  queue: research
  priority: {priority}
  resources: {{replicas: 1, perReplica: {{cpu: 2}}}}
  entrypoint: python counter.py --steps {steps} --every 5 --step-seconds 0.2
  runtimeEnv: {{working_dir: {COUNTER}}}
  checkpoint: {{preemptionGraceSeconds: 20}}
"""


def test_a_high_priority_job_preempts_a_low_one_which_resumes_later(park_up: ParkUp) -> None:
    assert park_up.cli("apply", "-f", "-", stdin=QUEUE).returncode == 0
    assert park_up.cli("apply", "-f", "-", stdin=counter_job("backlog", priority=0, steps=60)).returncode == 0

    def backlog_progressed() -> bool:
        job = park_up.get("ParkJob", "default", "backlog")
        return job.status.phase == "Running" and int(job.status.report.get("step", 0)) >= 10

    wait_for(backlog_progressed, timeout=120, what="the backlog job to pass step 10")
    assert (
        park_up.cli("apply", "-f", "-", stdin=counter_job("urgent", priority=100, steps=10)).returncode == 0
    )

    preempted = park_up.wait_phase("ParkJob", "default", "backlog", {"Preempted"}, timeout=90)
    assert preempted.status.checkpoint is not None
    stopped_at = int(preempted.status.report["step"])
    with park_up.client() as client:
        reasons = {e["reason"]: e["message"] for e in client.events("ParkJob", "default", "backlog")}
        pending = client.pending("research")
    assert "preempted by default/urgent" in reasons["Evicted"]
    assert [item["name"] for item in pending] in (["backlog"], ["urgent", "backlog"], ["backlog", "urgent"])

    urgent = park_up.wait_phase("ParkJob", "default", "urgent", {"Succeeded", "Failed"}, timeout=120)
    assert urgent.status.phase == "Succeeded", urgent.status.message
    done = park_up.wait_phase("ParkJob", "default", "backlog", {"Succeeded", "Failed"}, timeout=180)
    assert isinstance(done, ParkJob)
    assert (done.status.phase, done.status.attempt) == ("Succeeded", 2), done.status.message
    assert done.status.report["total"] == 60 * 61 // 2
    resumed_log = park_up.cli("logs", "job", "backlog").stdout
    assert (
        f"resuming at step {stopped_at}" in resumed_log
    )  # no work lost: 0 steps redone (≤ one interval of 5)

    queues = park_up.cli("get", "queues")
    assert "research" in queues.stdout
