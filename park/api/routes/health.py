"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

import park
from park.api.deps import ContextDep, require_token
from park.core.kinds import KINDS
from park.core.meta import API_VERSION

router = APIRouter(tags=["health"])

OBJECTS = Gauge("park_objects", "Objects in the store by kind and phase", ["kind", "phase"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(context: ContextDep) -> dict[str, str] | JSONResponse:
    if not context.ready():
        return JSONResponse({"status": "starting"}, status_code=503)
    context.store.current_resource_version()
    return {"status": "ready"}


@router.get("/metrics", dependencies=[Depends(require_token)])
def metrics(context: ContextDep) -> Response:
    OBJECTS.clear()
    for kind in KINDS:
        phases = Counter(obj.status.phase or "Unknown" for obj in context.store.list(kind).items)
        for phase, count in phases.items():
            OBJECTS.labels(kind=kind, phase=phase).set(count)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/version")
def version() -> dict[str, str]:
    return {"version": park.__version__, "apiVersion": API_VERSION}
