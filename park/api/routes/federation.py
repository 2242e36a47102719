"""The federation: the gateway's identity and addresses, invitations, revocation, and work units."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from park.api.deps import ContextDep, require_token
from park.core.meta import DnsLabel, ParkModel
from park.core.resources import NodeCapabilities, PeerId
from park.federation.apps import known_apps
from park.federation.invites import DEFAULT_TTL_S
from park.federation.runtime import Federation, not_enabled
from park.federation.verification.engine import TaskState
from park.federation.work import WorkState

router = APIRouter(prefix="/v1/federation", tags=["federation"], dependencies=[Depends(require_token)])


def _federation(context: ContextDep) -> Federation:
    if context.federation is None:
        raise not_enabled()
    return context.federation


FederationDep = Annotated[Federation, Depends(_federation)]


class InviteRequest(ParkModel):
    """`capabilities.apps` left empty grants every app the platform knows."""

    name: DnsLabel
    peer_id: PeerId
    capabilities: NodeCapabilities = Field(default_factory=lambda: NodeCapabilities(apps=known_apps()))
    ttl_seconds: float = Field(DEFAULT_TTL_S, gt=0)


class WorkRequest(ParkModel):
    app: str
    payload: dict[str, Any]
    needs: NodeCapabilities | None = None
    max_attempts: int = Field(3, ge=1, le=100)


@router.get("")
def info(federation: FederationDep) -> dict[str, Any]:
    """The gateway's peer ID (the token issuer), its addresses, online nodes and work counts."""
    return federation.info()


@router.post("/invites", status_code=201)
def create_invite(federation: FederationDep, body: InviteRequest) -> dict[str, Any]:
    """Create or re-bind the FederatedNode and return its signed, single-use join token."""
    capabilities = body.capabilities
    if not capabilities.apps:
        capabilities = capabilities.model_copy(update={"apps": known_apps()})
    token, node = federation.invite(
        name=body.name, peer_id=body.peer_id, capabilities=capabilities, ttl_s=body.ttl_seconds
    )
    return {"token": token, "node": node.to_dict()}


@router.post("/nodes/{name}/revoke")
def revoke(federation: FederationDep, name: str) -> dict[str, Any]:
    """Revoke a node: the gateway drops it and gossips the revocation to the mesh."""
    return federation.revoke(name).to_dict()


@router.post("/work", status_code=201)
def submit(federation: FederationDep, body: WorkRequest) -> dict[str, Any]:
    unit = federation.submit(
        app=body.app, payload=body.payload, needs=body.needs, max_attempts=body.max_attempts
    )
    return federation.shown([unit])[0]


class TaskRequest(ParkModel):
    app: str
    payload: dict[str, Any]
    needs: NodeCapabilities | None = None


@router.post("/tasks", status_code=201)
def submit_task(federation: FederationDep, body: TaskRequest) -> dict[str, Any]:
    """Verified work: the result is replicated, validated or spot-checked before it is used and credited."""
    return federation.submit_task(app=body.app, payload=body.payload, needs=body.needs).to_dict()


@router.get("/tasks")
def list_tasks(
    federation: FederationDep,
    state: Annotated[TaskState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    return {"items": [task.to_dict() for task in federation.tasks(state=state, limit=limit)]}


@router.get("/tasks/{task_id}")
def get_task(federation: FederationDep, task_id: str) -> dict[str, Any]:
    return federation.task(task_id).to_dict()


@router.get("/nodes/{name}/ledger")
def ledger(federation: FederationDep, name: str, since: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    """The node's credit entries, each signed by the gateway and chained to the one before."""
    return federation.ledger_of(name, since=since)


@router.get("/work")
def list_work(
    federation: FederationDep,
    state: Annotated[WorkState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    return {"items": federation.shown(federation.works(state=state, limit=limit))}


@router.get("/work/{work_id}")
def get_work(federation: FederationDep, work_id: str) -> dict[str, Any]:
    return federation.shown([federation.work(work_id)])[0]
