"""Faults: the control plane SIGKILLed mid-job, the Ray head dying, a clean stop and start."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import pytest

from park.core.resources import ParkCluster, ParkJob
from tests.integration.conftest import ParkUp, wait_for
from tests.integration.platform.test_embedded_platform import job_yaml

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(park_up: ParkUp) -> Iterator[ParkUp]:
    yield park_up
    if park_up.process is not None and park_up.process.poll() is not None:
        park_up.start()


def submitted_count(park_up: ParkUp, name: str) -> int:
    with park_up.client() as client:
        return [e["reason"] for e in client.events("ParkJob", "default", name)].count("Submitted")


def test_park_up_killed_mid_job_recovers_the_job_without_resubmitting(platform: ParkUp) -> None:
    platform.cli("apply", "-f", "-", stdin=job_yaml("survivor", "python hello.py --tasks 2 --sleep 12"))
    platform.wait_phase("ParkJob", "default", "survivor", {"Running"}, timeout=120)
    platform.kill()

    platform.start(wait_for_cluster=False)
    cluster = platform.wait_phase("ParkCluster", "default", "default", {"Ready"}, timeout=60)
    assert isinstance(cluster, ParkCluster) and cluster.status.restarts == 0  # the head was adopted
    job = platform.wait_phase("ParkJob", "default", "survivor", {"Succeeded", "Failed"}, timeout=120)
    assert isinstance(job, ParkJob)
    assert (job.status.phase, job.status.attempt) == ("Succeeded", 1)
    assert submitted_count(platform, "survivor") == 1
    assert "hello from Park: done" in platform.cli("logs", "job", "survivor").stdout


def test_a_dead_ray_head_is_restarted_and_its_jobs_run_again(platform: ParkUp) -> None:
    platform.cli("apply", "-f", "-", stdin=job_yaml("orphan", "python hello.py --tasks 2 --sleep 8"))
    platform.wait_phase("ParkJob", "default", "orphan", {"Running"}, timeout=120)
    head = json.loads((platform.state_dir / "ray" / "default.default" / "head.json").read_text())
    os.killpg(int(head.get("pgid") or head["pid"]), signal.SIGKILL)

    def restarted() -> bool:
        cluster = platform.get("ParkCluster", "default", "default")
        return cluster.status.phase == "Ready" and cluster.status.restarts >= 1

    wait_for(restarted, timeout=180, what="the Ray head to be restarted")
    job = platform.wait_phase("ParkJob", "default", "orphan", {"Succeeded", "Failed"}, timeout=180)
    assert isinstance(job, ParkJob)
    assert job.status.phase == "Succeeded"
    assert job.status.attempt == 2 and job.status.failed_attempts == 0
    with platform.client() as client:
        cluster_events = [e["reason"] for e in client.events("ParkCluster", "default", "default")]
        job_events = [e["reason"] for e in client.events("ParkJob", "default", "orphan")]
    assert "HeadLost" in cluster_events
    assert "SubmissionLost" in job_events


def test_a_clean_stop_stops_ray_and_a_restart_finds_every_object(platform: ParkUp) -> None:
    with platform.client() as client:
        before = {
            (o.kind, o.metadata.name, o.metadata.uid)
            for k in ("jobs", "clusters", "queues")
            for o in client.list_objects(k)
        }
    head = json.loads((platform.state_dir / "ray" / "default.default" / "head.json").read_text())
    assert platform.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(int(head["pid"]), 0)

    platform.start()
    with platform.client() as client:
        after = {
            (o.kind, o.metadata.name, o.metadata.uid)
            for k in ("jobs", "clusters", "queues")
            for o in client.list_objects(k)
        }
        assert after == before
        stopped = [e["reason"] for e in client.events("ParkCluster", "default", "default")]
    assert "Stopped" in stopped
