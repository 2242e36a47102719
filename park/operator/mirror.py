"""KubeRay status → Park status: pure functions from a child's `status` dict to the Park object's status.

KubeRay's conditions are copied as they are (type, status, reason, message), so `kubectl describe` on
the Park object shows what KubeRay saw; Park's own phase and message are derived from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from park.core.meta import Condition, set_condition
from park.core.quantities import parse_quantity
from park.core.resources import (
    TERMINAL_JOB_PHASES,
    ClusterPhase,
    JobPhase,
    ParkClusterStatus,
    ParkJob,
    ParkJobStatus,
    ParkServiceStatus,
    ServicePhase,
)

_RAY_JOB_TERMINAL: dict[str, JobPhase] = {"SUCCEEDED": "Succeeded", "FAILED": "Failed", "STOPPED": "Stopped"}


def kuberay_conditions(
    current: list[Condition], status: dict[str, Any], now: datetime, *, prefix: str = ""
) -> list[Condition]:
    """Merge KubeRay's conditions into Park's; transition times move only when a status flips."""
    conditions = list(current)
    for raw in status.get("conditions") or []:
        if not isinstance(raw, dict) or raw.get("status") not in ("True", "False", "Unknown"):
            continue
        condition = Condition(
            type=f"{prefix}{raw.get('type', '')}",
            status=raw["status"],
            reason=str(raw.get("reason") or ""),
            message=str(raw.get("message") or ""),
        )
        conditions = set_condition(conditions, condition, now=now)
    return conditions


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for raw in status.get("conditions") or []:
        if isinstance(raw, dict) and raw.get("type") == kind:
            return raw
    return None


def cluster_status(
    current: ParkClusterStatus,
    ray: dict[str, Any] | None,
    *,
    namespace: str,
    generation: int | None,
    now: datetime,
) -> ParkClusterStatus:
    """A RayCluster's `status` (None: not created yet) → the ParkCluster's status."""
    ray = ray or {}
    state = str(ray.get("state") or "")
    failure = _condition(ray, "ReplicaFailure") or _condition(ray, "RayClusterReplicaFailure")
    phase: ClusterPhase
    if not ray:
        phase, message = "Pending", "waiting for KubeRay to report the RayCluster"
    elif state == "ready":
        phase, message = "Ready", "all Ray pods are ready"
    elif failure is not None and failure.get("status") == "True":
        phase, message = "Failed", str(failure.get("message") or failure.get("reason") or "pod failure")
    else:
        ready = ray.get("readyWorkerReplicas", 0)
        desired = ray.get("desiredWorkerReplicas", 0)
        phase, message = "Starting", f"{ready}/{desired} workers ready" + (f" ({state})" if state else "")
    head = ray.get("head") or {}
    service = head.get("serviceName")
    endpoints = ray.get("endpoints") or {}
    ready_condition = Condition(
        type="Ready", status="True" if phase == "Ready" else "False", reason=phase, message=message
    )
    conditions = set_condition(kuberay_conditions(current.conditions, ray, now), ready_condition, now=now)
    return current.model_copy(
        update={
            "phase": phase,
            "message": message,
            "observed_generation": generation,
            "conditions": conditions,
            "dashboard_url": (
                f"http://{service}.{namespace}.svc:{endpoints.get('dashboard', 8265)}" if service else None
            ),
            "address": f"{service}.{namespace}.svc:{endpoints.get('gcs-server', 6379)}" if service else None,
            "resources": _desired_resources(ray),
            "started_at": current.started_at or (now if phase == "Ready" else None),
        }
    )


def _desired_resources(ray: dict[str, Any]) -> dict[str, float]:
    found = {}
    for key, name in (("desiredCPU", "cpu"), ("desiredMemory", "memory"), ("desiredGPU", "gpu")):
        value = ray.get(key)
        if value is not None and parse_quantity(str(value)):
            found[name] = parse_quantity(str(value))
    return found


def job_phase(
    job: ParkJob, ray: dict[str, Any] | None, *, attempt: int, suspended: bool
) -> tuple[JobPhase, str]:
    """Where the job stands, from its admission, its RayJob's `spec.suspend` and KubeRay's status.

    `attempt` counts the times the RayJob was let run (0: it never ran, so it is merely `Queued`).
    A job that lost admission keeps a running phase (`Preempting`, holding its quota for the scheduler)
    until KubeRay reports the RayJob suspended, i.e. its cluster is gone; only then is it `Preempted`.
    """
    ray = ray or {}
    deployment = str(ray.get("jobDeploymentStatus") or "")
    ray_job = str(ray.get("jobStatus") or "")
    message = str(ray.get("message") or "")
    admission = job.status.admission
    admitted = admission is not None and admission.admitted and not job.spec.suspend
    if deployment == "Complete" and ray_job in _RAY_JOB_TERMINAL:
        return _RAY_JOB_TERMINAL[ray_job], message or f"Ray job {ray_job.lower()}"
    if deployment == "Failed":
        return "Failed", message or str(ray.get("reason") or "the RayJob failed")
    if not admitted:
        stopped = (deployment in ("", "New", "Suspended") or attempt == 0) and suspended
        if job.spec.suspend and stopped:
            return "Suspended", "spec.suspend is true"
        if stopped or not ray:
            reason = admission.message if admission is not None else "waiting for the scheduler"
            return ("Preempted" if attempt > 0 else "Queued"), reason
        return "Preempting", "suspending the RayJob: KubeRay deletes its cluster"
    if deployment == "Running" and ray_job == "RUNNING":
        return "Running", message or "the Ray job is running"
    return "Starting", message or f"KubeRay: {deployment or 'creating the RayJob'}"


def job_status(
    job: ParkJob, ray: dict[str, Any] | None, *, attempt: int, suspended: bool, now: datetime
) -> ParkJobStatus:
    """The ParkJob's status; a terminal phase is final (the scheduler has released its quota)."""
    current = job.status
    if current.phase in TERMINAL_JOB_PHASES:
        return current
    ray = ray or {}
    phase, message = job_phase(job, ray, attempt=attempt, suspended=suspended)
    admission = current.admission
    admitted = Condition(
        type="Admitted",
        status="True" if admission is not None and admission.admitted else "False",
        reason="Admitted" if admission is not None and admission.admitted else "Waiting",
        message=admission.message if admission is not None else "",
    )
    conditions = set_condition(kuberay_conditions(current.conditions, ray, now), admitted, now=now)
    running = phase == "Running"
    return current.model_copy(
        update={
            "phase": phase,
            "message": message,
            "attempt": attempt,
            "conditions": conditions,
            "ray_status": ray.get("jobStatus") or current.ray_status,
            "submission_id": ray.get("jobId") or current.submission_id,
            "start_time": current.start_time or (now if running else None),
            "completion_time": now if phase in TERMINAL_JOB_PHASES else None,
            "failed_attempts": current.failed_attempts + (1 if phase == "Failed" else 0),
            "observed_generation": job.metadata.generation,
        }
    )


def service_phase(
    admitted: bool, ray: dict[str, Any] | None, *, estimate_written: bool
) -> tuple[ServicePhase, str]:
    if not admitted:
        return ("Queued" if estimate_written else "Pending"), "waiting for the scheduler to grant replicas"
    ray = ray or {}
    ready = _condition(ray, "Ready")
    if ready is not None and ready.get("status") == "True":
        return "Running", "Serve reports every application healthy"
    if ready is not None and ready.get("message"):
        return "Deploying", str(ready["message"])
    return "Deploying", "KubeRay is starting the Ray cluster and Serve"


def service_status(
    current: ParkServiceStatus,
    ray: dict[str, Any] | None,
    *,
    phase: ServicePhase,
    message: str,
    endpoints: list[str],
    generation: int | None,
    now: datetime,
) -> ParkServiceStatus:
    return current.model_copy(
        update={
            "phase": phase,
            "message": message,
            "endpoints": endpoints,
            "observed_generation": generation,
            "conditions": kuberay_conditions(current.conditions, ray or {}, now),
        }
    )
