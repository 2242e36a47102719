"""KubeRay status → Park status: phases, messages, conditions and the job's preemption states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from park.core.meta import ObjectMeta
from park.core.resources import Admission, ParkClusterStatus, ParkJob, ParkJobSpec
from park.operator.leader import may_take
from park.operator.mirror import cluster_status

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def mirrored(ray: dict[str, Any] | None, current: ParkClusterStatus | None = None) -> ParkClusterStatus:
    return cluster_status(current or ParkClusterStatus(), ray, namespace="ns", generation=3, now=NOW)


def test_a_cluster_without_kuberay_status_is_pending() -> None:
    status = mirrored(None)
    assert status.phase == "Pending" and status.dashboard_url is None
    assert [(c.type, c.status) for c in status.conditions] == [("Ready", "False")]


def test_a_ready_raycluster_makes_a_ready_parkcluster_with_its_addresses() -> None:
    ray = {
        "state": "ready",
        "head": {"serviceName": "gpus-head-svc", "podIP": "10.0.0.5"},
        "endpoints": {"dashboard": "8265", "gcs-server": "6379"},
        "conditions": [{"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady"}],
    }
    held = {"CPU": 18.0, "memory": 72.0 * 2**30, "GPU": 2.0}  # from its spec (park.control.costs)
    status = cluster_status(ParkClusterStatus(), ray, namespace="ns", generation=3, now=NOW, resources=held)
    assert status.phase == "Ready" and status.observed_generation == 3
    assert status.dashboard_url == "http://gpus-head-svc.ns.svc:8265"
    assert status.address == "gpus-head-svc.ns.svc:6379"
    assert status.resources == held
    assert status.started_at == NOW
    kinds = {c.type: c for c in status.conditions}
    assert kinds["HeadPodReady"].status == "True" and kinds["HeadPodReady"].reason == "HeadPodRunningAndReady"
    assert kinds["Ready"].status == "True"
    # Mirroring the same KubeRay status later moves no transition time and keeps the start.
    again = cluster_status(
        status, ray, namespace="ns", generation=3, now=NOW + timedelta(minutes=5), resources=held
    )
    assert again == status


def test_a_replica_failure_fails_the_cluster_and_progress_is_counted() -> None:
    failed = mirrored(
        {"conditions": [{"type": "ReplicaFailure", "status": "True", "message": "quota exceeded"}]}
    )
    assert (failed.phase, failed.message) == ("Failed", "quota exceeded")
    starting = mirrored({"readyWorkerReplicas": 1, "desiredWorkerReplicas": 4})
    assert (starting.phase, starting.message) == ("Starting", "1/4 workers ready")


def job(admitted: bool | None, *, suspend: bool = False, attempt: int = 0) -> ParkJob:
    admission = None if admitted is None else Admission(admitted=admitted, message="because")
    parked = ParkJob(
        metadata=ObjectMeta(name="j", namespace="ns", generation=1),
        spec=ParkJobSpec(entrypoint="python x.py", suspend=suspend),
    )
    return parked.model_copy(
        update={"status": parked.status.model_copy(update={"admission": admission, "attempt": attempt})}
    )


def test_a_lease_is_taken_when_free_ours_or_expired() -> None:
    assert may_take(None, None, 15, "me", NOW)
    assert may_take("me", NOW - timedelta(hours=1), 15, "me", NOW)
    assert not may_take("other", NOW - timedelta(seconds=5), 15, "me", NOW)
    assert may_take("other", NOW - timedelta(seconds=16), 15, "me", NOW)
