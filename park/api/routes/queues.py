"""Queue visibility: who waits in a queue, in which position, and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from park.api.deps import ContextDep, require_token
from park.core.resources import TERMINAL_JOB_PHASES, ParkJob, ParkService

router = APIRouter(prefix="/v1/queues", tags=["queues"], dependencies=[Depends(require_token)])


@router.get("/{name}/pending")
def pending(context: ContextDep, name: str) -> dict[str, Any]:
    """Jobs of this queue the scheduler has not admitted, in queue order, with the scheduler's reason."""
    context.store.get("ParkQueue", None, name)
    waiting = []
    for job in context.store.list("ParkJob").items:
        if not isinstance(job, ParkJob) or job.spec.queue != name or job.status.phase in TERMINAL_JOB_PHASES:
            continue
        admission = job.status.admission
        if admission is not None and admission.admitted:
            continue
        waiting.append(
            {
                "kind": "ParkJob",
                "namespace": job.metadata.namespace,
                "name": job.metadata.name,
                "position": admission.position if admission else None,
                "priority": job.spec.priority,
                "phase": job.status.phase,
                "reason": admission.message if admission else "not yet seen by the scheduler",
            }
        )
    waiting += _waiting_services(context, name)
    waiting.sort(key=lambda item: (item["position"] is None, item["position"] or 0, item["name"]))
    return {"queue": name, "items": waiting}


def _waiting_services(context: ContextDep, name: str) -> list[dict[str, Any]]:
    """Services of this queue with replicas Serve wants but the scheduler has not granted yet."""
    waiting = []
    for service in context.store.list("ParkService").items:
        if not isinstance(service, ParkService) or service.spec.queue != name:
            continue
        admission = service.status.admission
        granted = admission.replicas if admission is not None else {}
        missing = sum(max(d.target_replicas - granted.get(d.key, 0), 0) for d in service.status.deployments)
        if not missing or service.metadata.deletion_timestamp is not None:
            continue
        waiting.append(
            {
                "kind": "ParkService",
                "namespace": service.metadata.namespace,
                "name": service.metadata.name,
                "position": None,
                "priority": service.spec.priority,
                "phase": service.status.phase,
                "replicas": missing,
                "reason": admission.message if admission else "not yet seen by the scheduler",
            }
        )
    return waiting
