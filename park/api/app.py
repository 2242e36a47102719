"""Builds the FastAPI application around a running control plane."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import Counter, Histogram

import park
from park.api.deps import ApiContext
from park.api.errors import install_error_handlers
from park.api.routes import discovery, federation, health, packages, queues, resources, streams

REQUESTS = Counter("park_api_requests_total", "API requests", ["method", "route", "code"])
LATENCY = Histogram("park_api_request_seconds", "API request latency", ["method", "route"])


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Park",
        version=park.__version__,
        description="One control plane for AI infrastructure on PyTorch, AI models, Ray and Kubernetes.",
    )
    app.state.park = context
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(streams.router)  # before resources: /v1/watch must not match /v1/{plural}
    app.include_router(discovery.router)  # before resources: /v1/events is not a kind's list
    app.include_router(queues.router)
    app.include_router(federation.router)  # before resources: /v1/federation is not a kind
    app.include_router(packages.router)  # before resources: packages are not a kind
    app.include_router(resources.router)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    return app
