"""Which replica holds which prompt prefix, and the prefix-aware routing decision: pure, no Ray.

A prompt is cut into blocks of `block_tokens` tokens and block i is named by the hash chain over
blocks 0..i, exactly as a replica's `PrefixCache` names them, so one hash stands for a whole prefix and
a lookup is one dict probe per block. The index maps each block hash to the replica that last
prefilled it, which is where that prefix's KV cache most likely still is.

`choose` is the policy: the replica with the longest matching prefix wins unless its queue is longer
than the least-loaded candidate's by more than `imbalance_threshold`; then load wins, because a cache
hit saves one prefill while a long queue delays every request behind it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from park.workloads.serve.prefix_cache import chain_hashes

ReplicaKey = TypeVar("ReplicaKey", bound=Hashable)


@dataclass(frozen=True)
class PrefixMatch(Generic[ReplicaKey]):
    replica: ReplicaKey
    blocks: int


class PrefixIndex(Generic[ReplicaKey]):
    """Block-chain hash → replica, bounded (least recently used blocks are forgotten first)."""

    def __init__(self, *, block_tokens: int = 16, capacity_blocks: int = 100_000) -> None:
        if block_tokens < 1 or capacity_blocks < 1:
            raise ValueError(
                f"block_tokens ({block_tokens}) and capacity_blocks ({capacity_blocks}) must be positive"
            )
        self.block_tokens = block_tokens
        self.capacity_blocks = capacity_blocks
        self._owner: OrderedDict[bytes, ReplicaKey] = OrderedDict()

    def __len__(self) -> int:
        return len(self._owner)

    def record(self, tokens: Sequence[int], replica: ReplicaKey) -> None:
        """`replica` prefilled `tokens`: it now holds every full block of them."""
        for digest in chain_hashes(tokens, self.block_tokens):
            self._owner[digest] = replica
            self._owner.move_to_end(digest)
        while len(self._owner) > self.capacity_blocks:
            self._owner.popitem(last=False)

    def match(
        self, tokens: Sequence[int], candidates: Iterable[ReplicaKey]
    ) -> PrefixMatch[ReplicaKey] | None:
        """The candidate holding the longest prefix of `tokens`, or None when none holds a block."""
        allowed = set(candidates)
        hashes = chain_hashes(tokens, self.block_tokens)
        for blocks in range(len(hashes), 0, -1):
            owner = self._owner.get(hashes[blocks - 1])
            if owner is not None and owner in allowed:
                return PrefixMatch(owner, blocks)
        return None

    def forget(self, replica: ReplicaKey) -> int:
        """Drop a dead replica's blocks; returns how many were dropped."""
        gone = [digest for digest, owner in self._owner.items() if owner == replica]
        for digest in gone:
            del self._owner[digest]
        return len(gone)


@dataclass(frozen=True)
class Decision(Generic[ReplicaKey]):
    """Route to `replica`, or (None) fall back to power-of-two choices; `reason` says why."""

    replica: ReplicaKey | None
    reason: Literal["prefix", "imbalanced", "no-match"]


def choose(
    match: PrefixMatch[ReplicaKey] | None,
    queue_lengths: Mapping[ReplicaKey, int],
    *,
    imbalance_threshold: int,
) -> Decision[ReplicaKey]:
    """Prefix affinity unless the preferred replica's queue exceeds the shortest by more than the threshold.

    `queue_lengths` holds the candidates whose queue length is known; an unknown preferred replica
    counts as idle (the router's own probe still refuses a full one).
    """
    if match is None:
        return Decision(None, "no-match")
    lowest = min(queue_lengths.values(), default=0)
    if queue_lengths.get(match.replica, 0) - lowest > imbalance_threshold:
        return Decision(None, "imbalanced")
    return Decision(match.replica, "prefix")
