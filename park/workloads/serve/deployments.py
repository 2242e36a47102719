"""The model replicas of the serving app: prefill, decode, monolithic and mixture-of-experts servers.

Plain classes (app.py makes them Serve deployments), each holding one `CharLMEngine` that only its
engine thread touches: torch work runs there, one call at a time, while the replica's event loop
stays free for Serve's queue-length probes and for streaming tokens.

- `PrefillServer` turns a prompt into a KV cache (reusing its `PrefixCache`) and the first token, and
  returns the cache as a `KVPayload` through Ray's object store.
- `DecodeServer` verifies the payload's digest, then continues the request in its continuous batch.
- `MonolithicServer` does both in one replica: the baseline disaggregation is measured against. Its
  prefills and decode steps share the engine thread, so a long prompt stalls every stream's next token.
- `MoEServer` is a monolithic server whose engine reaches its experts through `experts.RemoteExperts`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import torch
from ray import serve
from ray.serve.exceptions import RayServeException

from park.workloads.models.charlm import ExpertDispatch
from park.workloads.serve.args import ServeArgs
from park.workloads.serve.batching import ContinuousBatcher
from park.workloads.serve.calls import PrefillRequest, PrefillResult, StreamEvent
from park.workloads.serve.decode_loop import DecodeLoop
from park.workloads.serve.engine import CharLMEngine
from park.workloads.serve.kv import KVCache
from park.workloads.serve.prefix_cache import PrefixCache

logger = logging.getLogger(__name__)


def replica_id() -> str:
    """This replica's id as Serve's routers name it (`ReplicaID.unique_id`); "local" outside Serve."""
    try:
        return str(serve.get_replica_context().replica_id.unique_id)
    except RayServeException:  # no replica context: constructed directly (a test, a benchmark)
        return "local"


@dataclass(frozen=True)
class Prefilled:
    cache: KVCache
    first_token: int
    cached_tokens: int


class _EngineReplica:
    """An engine, its one thread and (for replicas that prefill) a prefix cache."""

    def __init__(self, args: ServeArgs, *, dispatch: ExpertDispatch | None = None) -> None:
        torch.set_num_threads(args.torch_threads)
        self.args = args
        self.engine = CharLMEngine.load(args.model_dir, dispatch=dispatch, map_location=args.torch_device())
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="park-engine")
        self.prefix_cache = (
            PrefixCache(args.prefix_cache_tokens, args.prefix_block_tokens)
            if args.prefix_cache_tokens
            else None
        )
        self.replica = replica_id()

    def prefill(self, request: PrefillRequest) -> Prefilled:
        """Engine thread only."""
        reuse = self.prefix_cache  # an empty PrefixCache is falsy (it has a length): compare with None
        cached = reuse.lookup(request.tokens) if reuse is not None else None
        cache, logits = self.engine.prefill(request.tokens, cached=cached)
        if reuse is not None:
            reuse.insert(cache)
        first = self.engine.sample(logits, request.params, self.engine.generator(request.params, stream=0))
        return Prefilled(cache, first, len(cached) if cached is not None else 0)

    async def on_engine(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def stats(self) -> dict[str, Any]:
        return {
            "replica": self.replica,
            "prefix_cache": self.prefix_cache.stats() if self.prefix_cache is not None else None,
        }


class PrefillServer:
    def __init__(self, args: ServeArgs) -> None:
        self._replica = _EngineReplica(args)

    async def __call__(self, request: PrefillRequest) -> PrefillResult:
        return await self._replica.on_engine(self._prefill, request)  # type: ignore[no-any-return]

    def _prefill(self, request: PrefillRequest) -> PrefillResult:
        prefilled = self._replica.prefill(request)
        return PrefillResult(
            request_id=request.request_id,
            payload=prefilled.cache.to_payload(),
            first_token=prefilled.first_token,
            params=request.params,
            prefill_replica=self._replica.replica,
            cached_tokens=prefilled.cached_tokens,
        )

    def stats(self) -> dict[str, Any]:
        return self._replica.stats()


class DecodeServer:
    def __init__(self, args: ServeArgs) -> None:
        self._replica = _EngineReplica(args.model_copy(update={"prefix_cache_tokens": 0}))
        batcher = ContinuousBatcher(self._replica.engine, max_batch_size=args.max_batch_size)
        self._loop = DecodeLoop(batcher, self._replica.executor, event_timeout_s=args.token_timeout_s)

    async def generate(self, prefill: PrefillResult) -> AsyncIterator[StreamEvent]:
        """Decode a prefilled request; a payload that fails its digest raises `KVCacheCorrupted`."""
        # Hashing megabytes is worth a thread (hashlib releases the GIL); not the engine's, which is busy.
        cache = await asyncio.to_thread(KVCache.from_payload, prefill.payload, verify=True)
        events = self._loop.stream(prefill.request_id, cache, prefill.first_token, prefill.params)
        async with aclosing(events):  # the request leaves the batch as soon as its consumer does
            async for event in events:
                if event.index == 0:
                    yield StreamEvent.of(
                        event,
                        prefill_replica=prefill.prefill_replica,
                        decode_replica=self._replica.replica,
                        cached_tokens=prefill.cached_tokens,
                    )
                else:
                    yield StreamEvent.of(event)

    async def complete(self, prefill: PrefillResult) -> list[StreamEvent]:
        """All of `generate` in one reply (one object, not one per token): for callers that do not stream."""
        return [event async for event in self.generate(prefill)]

    def stats(self) -> dict[str, Any]:
        return {**self._replica.stats(), "decode_steps": self._loop.steps, "active": self._loop.active}


class MonolithicServer:
    def __init__(self, args: ServeArgs, *, dispatch: ExpertDispatch | None = None) -> None:
        self._replica = _EngineReplica(args, dispatch=dispatch)
        batcher = ContinuousBatcher(self._replica.engine, max_batch_size=args.max_batch_size)
        self._loop = DecodeLoop(batcher, self._replica.executor, event_timeout_s=args.token_timeout_s)

    async def generate(self, request: PrefillRequest) -> AsyncIterator[StreamEvent]:
        prefilled: Prefilled = await self._replica.on_engine(self._replica.prefill, request)
        me = self._replica.replica
        events = self._loop.stream(request.request_id, prefilled.cache, prefilled.first_token, request.params)
        async with aclosing(events):  # the request leaves the batch as soon as its consumer does
            async for event in events:
                if event.index == 0:
                    yield StreamEvent.of(
                        event, prefill_replica=me, decode_replica=me, cached_tokens=prefilled.cached_tokens
                    )
                else:
                    yield StreamEvent.of(event)

    async def complete(self, request: PrefillRequest) -> list[StreamEvent]:
        """All of `generate` in one reply (one object, not one per token): for callers that do not stream."""
        return [event async for event in self.generate(request)]

    def stats(self) -> dict[str, Any]:
        return {**self._replica.stats(), "decode_steps": self._loop.steps, "active": self._loop.active}


class MoEServer(MonolithicServer):
    """A monolithic server whose MoE layers call the `expert-<i>` deployments (handles in `experts`)."""

    def __init__(self, args: ServeArgs, experts: list[Any]) -> None:
        from park.workloads.serve.experts import RemoteExperts  # noqa: PLC0415 - only MoE needs it

        super().__init__(args, dispatch=RemoteExperts(experts, timeout_s=args.expert_timeout_s))
