"""The decode replica's scheduler: one asyncio task that steps a `ContinuousBatcher` for every request.

Requests join and leave only between steps: `stream` queues a join (or, when its consumer goes away,
a cancel), and the loop applies them before the next step, so the batcher has a single owner and
needs no lock. The step itself, a torch forward pass, runs on the replica's engine thread, so the
event loop keeps answering Serve (queue-length probes, new requests, streamed tokens) while it runs.
A failed step fails the requests in it; the loop goes on for the others and for new ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from concurrent.futures import Executor
from dataclasses import dataclass

from park.workloads.serve.batching import ContinuousBatcher, TokenEvent
from park.workloads.serve.kv import KVCache
from park.workloads.serve.sampling import SamplingParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Join:
    request_id: str
    cache: KVCache
    first_token: int
    params: SamplingParams


class DecodeLoop:
    def __init__(
        self, batcher: ContinuousBatcher, executor: Executor, *, event_timeout_s: float = 60.0
    ) -> None:
        """`executor` runs the engine (one thread: engine calls must not overlap); `event_timeout_s`
        bounds the wait for each token, so a stuck engine fails requests instead of hanging them."""
        self._batcher = batcher
        self._executor = executor
        self._event_timeout_s = event_timeout_s
        self._joins: list[_Join] = []
        self._cancels: set[str] = set()
        self._queues: dict[str, asyncio.Queue[TokenEvent | BaseException]] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.steps = 0

    @property
    def active(self) -> int:
        """Requests joined or waiting to join."""
        return len(self._queues)

    async def stream(
        self, request_id: str, cache: KVCache, first_token: int, params: SamplingParams
    ) -> AsyncGenerator[TokenEvent, None]:
        """The request's token events, its first token's included; leaving early cancels the request."""
        wake = self._ensure_running()
        if request_id in self._queues:
            raise ValueError(f"request {request_id!r} is already being decoded")
        queue: asyncio.Queue[TokenEvent | BaseException] = asyncio.Queue()
        self._queues[request_id] = queue
        self._joins.append(_Join(request_id, cache, first_token, params))
        wake.set()
        finished = False
        try:
            while not finished:
                item = await asyncio.wait_for(queue.get(), self._event_timeout_s)
                if isinstance(item, BaseException):
                    raise item
                finished = item.finish_reason is not None
                yield item
        finally:
            self._queues.pop(request_id, None)
            if not finished:
                self._cancels.add(request_id)
                wake.set()

    def _ensure_running(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(self._wake), name="park-decode-loop"
            )
        return self._wake

    async def _run(self, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not (self._joins or self._cancels or len(self._batcher)):
                wake.clear()
                await wake.wait()
            self._apply_cancels()
            self._apply_joins()
            if not len(self._batcher):
                continue
            stepping = self._batcher.active
            try:
                events = await loop.run_in_executor(self._executor, self._batcher.step)
            except Exception as exc:
                logger.exception("decode step failed for %d requests", len(stepping))
                for request_id in stepping:
                    self._batcher.cancel(request_id)
                    self._deliver_error(request_id, exc)
                continue
            self.steps += 1
            for event in events:
                self._deliver(event)

    def _apply_cancels(self) -> None:
        for request_id in self._cancels:
            self._batcher.cancel(request_id)
        self._cancels.clear()

    def _apply_joins(self) -> None:
        joins, self._joins = self._joins, []
        for join in joins:
            if join.request_id not in self._queues:  # its consumer left before it joined
                continue
            try:
                event = self._batcher.add(join.request_id, join.cache, join.first_token, join.params)
            except ValueError as exc:
                self._deliver_error(join.request_id, exc)
                continue
            self._deliver(event)

    def _deliver(self, event: TokenEvent) -> None:
        queue = self._queues.get(event.request_id)
        if queue is None:
            self._batcher.cancel(event.request_id)
        else:
            queue.put_nowait(event)

    def _deliver_error(self, request_id: str, exc: BaseException) -> None:
        queue = self._queues.get(request_id)
        if queue is not None:
            queue.put_nowait(exc)
