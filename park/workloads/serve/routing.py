"""Ray Serve request routers for the serving app: prefix-cache-aware, round-robin and power-of-two.

Serve runs a router inside every caller of a deployment handle (here: the ingress replica), so each
ingress replica keeps its own `PrefixIndex`; with one ingress replica that is the whole picture,
with several each learns the prefixes it routed itself (a shared index would cost an actor call per
request, which is what Ray's own `PrefixCacheAffinityRouter` pays).

The routers read a request's prompt tokens from the first positional argument that has a `tokens`
attribute (`PrefillRequest`), so they work for every deployment that takes one.

`PrefixAwareRouter` deliberately does not use `FIFOMixin`: FIFO hands whichever replica a routing
task found to the oldest waiting request, which would give request A the replica chosen for request
B's prefix. Without it, Serve fulfils exactly the request the choice was made for.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from ray.serve.request_router import (
    FIFOMixin,
    PendingRequest,
    ReplicaID,
    RequestRouter,
    RunningReplica,
)

from park.workloads.serve.prefix_index import PrefixIndex, choose

logger = logging.getLogger(__name__)

PREFIX_ROUTER = "park.workloads.serve.routing:PrefixAwareRouter"
ROUND_ROBIN_ROUTER = "park.workloads.serve.routing:RoundRobinRouter"
POWER_OF_TWO_ROUTER = "park.workloads.serve.routing:PowerOfTwoRouter"


def request_tokens(pending_request: PendingRequest | None) -> tuple[int, ...] | None:
    """The prompt tokens of a pending request, or None when it carries none (a health probe, say)."""
    if pending_request is None:
        return None
    for arg in pending_request.args or ():
        tokens = getattr(arg, "tokens", None)
        if isinstance(tokens, tuple):
            return tokens
    return None


def _two_random(candidates: Sequence[RunningReplica]) -> list[list[RunningReplica]]:
    """Power of two choices: Serve sends the request to the shorter queue of the two."""
    if not candidates:
        return []
    return [random.sample(list(candidates), min(2, len(candidates)))]


class PowerOfTwoRouter(FIFOMixin, RequestRouter):
    """Serve's default policy without its locality and multiplexing ranks: the plain baseline."""

    async def choose_replicas(
        self, candidate_replicas: list[RunningReplica], pending_request: PendingRequest | None = None
    ) -> list[list[RunningReplica]]:
        return _two_random(candidate_replicas)


class RoundRobinRouter(FIFOMixin, RequestRouter):
    """Each routing attempt takes the next replica in a fixed order: the benchmark's cache-blind baseline."""

    def initialize_state(self, **kwargs: Any) -> None:
        self._turn = 0

    async def choose_replicas(
        self, candidate_replicas: list[RunningReplica], pending_request: PendingRequest | None = None
    ) -> list[list[RunningReplica]]:
        if not candidate_replicas:
            return []
        ordered = sorted(candidate_replicas, key=lambda replica: replica.replica_id.unique_id)
        chosen = ordered[self._turn % len(ordered)]
        self._turn += 1
        return [[chosen]]


class PrefixAwareRouter(RequestRouter):
    """Requests that share a prompt prefix go to the replica that prefilled it (its KV cache is there),
    unless that replica's queue is longer than the shortest by more than `imbalance_threshold`; then,
    and for prompts nobody has seen, power of two choices."""

    def initialize_state(self, **kwargs: Any) -> None:
        """`request_router_kwargs`: block_tokens (16), imbalance_threshold (4), capacity_blocks (100000)."""
        unknown = set(kwargs) - {"block_tokens", "imbalance_threshold", "capacity_blocks"}
        if unknown:
            raise ValueError(f"unknown PrefixAwareRouter arguments: {sorted(unknown)}")
        self._index: PrefixIndex[ReplicaID] = PrefixIndex(
            block_tokens=int(kwargs.get("block_tokens", 16)),
            capacity_blocks=int(kwargs.get("capacity_blocks", 100_000)),
        )
        self._imbalance_threshold = int(kwargs.get("imbalance_threshold", 4))

    async def choose_replicas(
        self, candidate_replicas: list[RunningReplica], pending_request: PendingRequest | None = None
    ) -> list[list[RunningReplica]]:
        fallback = _two_random(candidate_replicas)
        tokens = request_tokens(pending_request)
        if tokens is None or not candidate_replicas:
            return fallback
        by_id = {replica.replica_id: replica for replica in candidate_replicas}
        match = self._index.match(tokens, by_id)
        if match is None:
            return fallback
        decision = choose(
            match,
            await self._queue_lengths(candidate_replicas),
            imbalance_threshold=self._imbalance_threshold,
        )
        if decision.replica is None:
            logger.debug("prefix owner %s is overloaded; power of two instead", match.replica)
            return fallback
        return [[by_id[decision.replica]], *fallback]

    async def _queue_lengths(self, replicas: list[RunningReplica]) -> dict[ReplicaID, int]:
        """Queue lengths from the router's cache, probing the replicas it has no fresh entry for."""
        lengths: dict[ReplicaID, int] = {}
        unknown: list[RunningReplica] = []
        for replica in replicas:
            cached = (
                self._replica_queue_len_cache.get(replica.replica_id)
                if self._use_replica_queue_len_cache
                else None
            )
            if cached is None:
                unknown.append(replica)
            else:
                lengths[replica.replica_id] = cached
        if unknown:
            for replica, length in await self._probe_queue_lens(unknown, 0):
                if length is not None:
                    lengths[replica.replica_id] = length
        return lengths

    def on_request_routed(self, pending_request: PendingRequest, replica_id: ReplicaID, result: Any) -> None:
        tokens = request_tokens(pending_request)
        if tokens is not None:
            self._index.record(tokens, replica_id)

    def on_replica_actor_died(self, replica_id: ReplicaID) -> None:
        super().on_replica_actor_died(replica_id)
        self._index.forget(replica_id)

    def update_replicas(self, replicas: list[RunningReplica]) -> None:
        before = set(self._replica_id_set)
        super().update_replicas(replicas)
        for gone in before - set(self._replica_id_set):
            self._index.forget(gone)
