"""Prefix-aware routing: the pure index and policy, and the Serve router class driven with fake replicas."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from ray.serve._private.common import DeploymentHandleSource, DeploymentID, ReplicaID

from park.workloads.serve.calls import PrefillRequest
from park.workloads.serve.prefix_index import PrefixIndex, PrefixMatch, choose
from park.workloads.serve.routing import PrefixAwareRouter, RoundRobinRouter, request_tokens
from park.workloads.serve.sampling import SamplingParams

SYSTEM = tuple(range(40))  # a shared "system prompt": 2 full blocks of 16, and a partial one


def test_index_matches_the_longest_shared_prefix() -> None:
    index: PrefixIndex[str] = PrefixIndex(block_tokens=16)
    index.record((*SYSTEM, 1, 2, 3), "a")
    index.record((*SYSTEM[:16], 99, 98), "b")
    assert index.match((*SYSTEM, 7, 7), ["a", "b"]) == PrefixMatch("a", 2)
    assert index.match((*SYSTEM[:20], 5), ["a", "b"]) == PrefixMatch("b", 1)  # b wrote block 0 last
    assert index.match((*SYSTEM, 7), ["b"]) == PrefixMatch("b", 1)  # only candidates count
    assert index.match(tuple(range(100, 140)), ["a", "b"]) is None
    assert index.match(SYSTEM[:15], ["a", "b"]) is None  # no full block, no prefix


def test_index_forgets_dead_replicas_and_old_blocks() -> None:
    index: PrefixIndex[str] = PrefixIndex(block_tokens=4, capacity_blocks=3)
    index.record(tuple(range(8)), "a")  # 2 blocks
    index.record(tuple(range(100, 108)), "b")  # 2 more: a's first block is the oldest and goes
    assert len(index) == 3
    assert index.match(tuple(range(8)), ["a"]) == PrefixMatch("a", 2)  # its chain's second hash remains
    assert index.match(tuple(range(4)), ["a"]) is None
    assert index.forget("b") == 2
    assert index.match(tuple(range(100, 108)), ["a", "b"]) is None
    with pytest.raises(ValueError, match="positive"):
        PrefixIndex(block_tokens=0)


def test_policy_prefers_the_prefix_owner_until_it_is_overloaded() -> None:
    match = PrefixMatch("a", 2)
    assert choose(match, {"a": 3, "b": 0}, imbalance_threshold=4).replica == "a"
    assert choose(match, {"a": 4, "b": 0}, imbalance_threshold=4).replica == "a"
    overloaded = choose(match, {"a": 5, "b": 0}, imbalance_threshold=4)
    assert (overloaded.replica, overloaded.reason) == (None, "imbalanced")
    assert choose(None, {"a": 0}, imbalance_threshold=4).reason == "no-match"
    assert choose(match, {}, imbalance_threshold=0).replica == "a"  # unknown load counts as idle


def test_request_tokens_come_from_the_prefill_request() -> None:
    request = PrefillRequest("r", (1, 2, 3), SamplingParams())
    assert request_tokens(SimpleNamespace(args=["ignored", request])) == (1, 2, 3)
    assert request_tokens(SimpleNamespace(args=[b"object-ref"])) is None
    assert request_tokens(None) is None


DEPLOYMENT = DeploymentID(name="prefill", app_name="llm")


@dataclass
class FakeReplica:
    """What a Serve router reads of a replica: its id, its queue limit, its queue length."""

    name: str
    queue: int = 0
    max_ongoing_requests: int = 16
    replica_id: ReplicaID = field(init=False)

    def __post_init__(self) -> None:
        self.replica_id = ReplicaID(unique_id=self.name, deployment_id=DEPLOYMENT)

    async def get_queue_len(self, *, deadline_s: float) -> int:
        return self.queue


def _pending(tokens: tuple[int, ...]) -> Any:
    return SimpleNamespace(args=[PrefillRequest("r", tokens, SamplingParams())])


def _router(cls: type, replicas: list[FakeReplica], **kwargs: Any) -> Any:
    source = DeploymentHandleSource.UNKNOWN
    router = cls(deployment_id=DEPLOYMENT, handle_source=source, use_replica_queue_len_cache=True)
    router.initialize_state(**kwargs)
    router.update_replicas(replicas)
    return router


def _names(ranks: list[list[FakeReplica]]) -> list[list[str]]:
    return [[replica.name for replica in rank] for rank in ranks]


def test_prefix_router_sends_a_shared_prefix_back_to_its_replica() -> None:
    async def scenario() -> None:
        a, b = FakeReplica("a"), FakeReplica("b")
        router = _router(PrefixAwareRouter, [a, b], block_tokens=16, imbalance_threshold=2)
        first = await router.choose_replicas([a, b], _pending((*SYSTEM, 1)))
        assert sorted(_names(first)[0]) == ["a", "b"]  # unseen prompt: power of two
        router.on_request_routed(_pending((*SYSTEM, 1)), b.replica_id, None)
        again = await router.choose_replicas([a, b], _pending((*SYSTEM, 2, 3)))
        assert _names(again)[0] == ["b"]  # the owner first, power of two after it
        assert len(again) == 2

        router.on_new_queue_len_info(b.replica_id, 3)  # b is busier, within the threshold
        router.on_new_queue_len_info(a.replica_id, 1)
        assert _names(await router.choose_replicas([a, b], _pending((*SYSTEM, 4))))[0] == ["b"]
        router.on_new_queue_len_info(b.replica_id, 4)  # now 3 longer than a: load wins
        overloaded = await router.choose_replicas([a, b], _pending((*SYSTEM, 5)))
        assert len(overloaded) == 1 and sorted(_names(overloaded)[0]) == ["a", "b"]

        router.on_replica_actor_died(b.replica_id)
        assert len(await router.choose_replicas([a], _pending((*SYSTEM, 6)))) == 1
        assert router._index.match((*SYSTEM, 6), [b.replica_id]) is None

    asyncio.run(scenario())


def test_prefix_router_probes_replicas_it_has_no_queue_length_for() -> None:
    async def scenario() -> None:
        a, b = FakeReplica("a", queue=9), FakeReplica("b", queue=0)
        router = _router(PrefixAwareRouter, [a, b], imbalance_threshold=4)
        router.on_request_routed(_pending(SYSTEM), a.replica_id, None)
        router.replica_queue_len_cache.invalidate_key(a.replica_id)
        router.replica_queue_len_cache.invalidate_key(b.replica_id)
        ranks = await router.choose_replicas([a, b], _pending(SYSTEM))
        assert len(ranks) == 1  # the probe found a 9 deep against 0: not the owner first

    asyncio.run(scenario())


def test_prefix_router_refuses_unknown_arguments() -> None:
    with pytest.raises(ValueError, match="block_size"):
        _router(PrefixAwareRouter, [], block_size=16)


def test_round_robin_takes_turns() -> None:
    async def scenario() -> list[str]:
        replicas = [FakeReplica("b"), FakeReplica("a"), FakeReplica("c")]
        router = _router(RoundRobinRouter, replicas)
        return [(await router.choose_replicas(replicas, _pending(SYSTEM)))[0][0].name for _ in range(4)]

    assert asyncio.run(scenario()) == ["a", "b", "c", "a"]
