"""Ray Serve applications the service tests deploy through ParkService (imported by Serve's replicas)."""

from __future__ import annotations

import asyncio

from ray import serve
from starlette.requests import Request


@serve.deployment
class Sleepy:
    """Holds each request for `?seconds=`: concurrent requests are ongoing requests to autoscale on."""

    async def __call__(self, request: Request) -> dict[str, object]:
        seconds = float(request.query_params.get("seconds", "0"))
        await asyncio.sleep(seconds)
        return {"slept": seconds, "replica": serve.get_replica_context().replica_id.unique_id}


sleepy = Sleepy.bind()


@serve.deployment
class Unready:
    """A constructor that fails, as a model that cannot be loaded does: Serve retries it, then gives up."""

    def __init__(self) -> None:
        raise FileNotFoundError("no weights at /nowhere/model.pt")


unready = Unready.bind()
