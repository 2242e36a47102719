"""KubeRay status → Park status: pure functions from a child's `status` dict to the Park object's status.

KubeRay's conditions are copied as they are (type, status, reason, message), so `kubectl describe` on
the Park object shows what KubeRay saw; Park's own phase and message are derived from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from park.core.meta import Condition, set_condition
from park.core.resources import (
    ClusterPhase,
    ParkClusterStatus,
)


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
    resources: dict[str, float] | None = None,
) -> ParkClusterStatus:
    """A RayCluster's `status` (None: not created yet) → the ParkCluster's status.

    `resources` are what its pods hold, in Ray's names (`park get clusters` reads CPU and GPU from
    them on both substrates); the caller computes them from the spec (`park.control.costs`).
    """
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
            "resources": dict(resources or {}),
            "started_at": current.started_at or (now if phase == "Ready" else None),
        }
    )
