"""Discovery and the event feed: what kinds this server serves, and every object's recent events.

Clients such as the console ask the server which kinds exist instead of assuming their own version's
list, so a view for a kind appears only where the server really has it (as `kubectl api-resources`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from park.api.deps import ContextDep, require_token
from park.core.kinds import KINDS
from park.core.meta import API_VERSION

router = APIRouter(prefix="/v1", tags=["discovery"], dependencies=[Depends(require_token)])


@router.get("")
def resources() -> dict[str, Any]:
    """The kinds this server serves, like Kubernetes' API discovery document."""
    return {
        "apiVersion": API_VERSION,
        "resources": [
            {
                "kind": info.kind,
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": [*info.short_names, *info.aliases],
                "namespaced": info.namespaced,
            }
            for info in KINDS.values()
        ],
    }


@router.get("/events")
def events(
    context: ContextDep,
    namespace: str | None = None,
    limit: int = Query(500, ge=1, le=10_000),
) -> dict[str, Any]:
    """The newest `limit` events of every object (oldest first), like `kubectl get events -A`."""
    recent = context.store.list_events(namespace=namespace)[-limit:]
    return {
        "items": [
            {
                "kind": e.kind,
                "namespace": e.namespace,
                "name": e.name,
                "type": e.type,
                "reason": e.reason,
                "message": e.message,
                "count": e.count,
                "firstTime": e.first_time.isoformat(),
                "lastTime": e.last_time.isoformat(),
            }
            for e in recent
        ]
    }
