"""Streams: a job's logs (optionally followed) and server-sent events of every change."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, StreamingResponse

from park.api.deps import ContextDep, require_token
from park.control.store import WatchEvent
from park.core.kinds import kind_info

router = APIRouter(prefix="/v1", tags=["streams"], dependencies=[Depends(require_token)])

HEARTBEAT_SECONDS = 15.0


@router.get("/namespaces/{namespace}/jobs/{name}/logs", response_model=None)
async def job_logs(
    context: ContextDep, namespace: str, name: str, follow: bool = False
) -> PlainTextResponse | StreamingResponse:
    if not follow:
        return PlainTextResponse(await context.logs.read(namespace, name))
    context.store.get("ParkJob", namespace, name)  # 404 before the stream starts
    return StreamingResponse(context.logs.follow(namespace, name), media_type="text/plain")


def _sse(event: WatchEvent) -> str:
    data = json.dumps({"type": event.type, "object": event.object.to_dict()}, separators=(",", ":"))
    return f"id: {event.resource_version}\nevent: {event.type}\ndata: {data}\n\n"


async def _with_heartbeats(events: AsyncIterator[WatchEvent]) -> AsyncIterator[str]:
    """Interleave comment lines so proxies and clients can tell a quiet stream from a dead one."""
    queue: asyncio.Queue[WatchEvent] = asyncio.Queue(maxsize=1000)

    async def pump() -> None:
        async for event in events:
            await queue.put(event)

    task = asyncio.create_task(pump())
    try:
        yield ": connected\n\n"
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                if task.done():
                    task.result()
                yield ": heartbeat\n\n"
                continue
            yield _sse(event)
    finally:
        task.cancel()


@router.get("/watch")
async def watch(
    context: ContextDep,
    resource_version: int | None = Query(None, alias="resourceVersion", ge=0),
    kinds: str | None = Query(None, description="comma-separated kinds, e.g. jobs,clusters"),
    namespace: str | None = None,
) -> StreamingResponse:
    """Server-sent events of changes after `resourceVersion` (default: from now on)."""
    wanted = frozenset(kind_info(k.strip()).kind for k in kinds.split(",") if k.strip()) if kinds else None
    since = context.store.current_resource_version() if resource_version is None else resource_version
    context.store.changes_since(since, kinds=wanted, limit=1)  # raises Gone (410) before streaming starts

    async def events() -> AsyncIterator[WatchEvent]:
        async for event in context.store.watch(since=since, kinds=wanted):
            if namespace is None or event.object.metadata.namespace == namespace:
                yield event

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_with_heartbeats(events()), media_type="text/event-stream", headers=headers)
