"""A prefill replica's cache of prompt-prefix KV caches, so shared prefixes (system prompts, few-shot
examples, a conversation's history) are computed once.

Prefixes are matched in whole blocks of `block_tokens`: block i of a sequence is named by a hash chain
over blocks 0..i, so one dict probe per block finds the longest cached prefix, and a router can predict
hits by hashing the same blocks. Each inserted sequence is one entry (its block-aligned prefix, copied so
the capacity counts real memory); the index maps every block hash to the entries that hold it. Entries
are evicted least recently used first when the stored tokens exceed `capacity_tokens`.

The cache is shared by the replica's request threads, so its methods hold a lock.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from itertools import count

import numpy as np
import torch
from torch import Tensor

from park.workloads.serve.kv import KVCache


def chain_hashes(tokens: Sequence[int], block_tokens: int) -> list[bytes]:
    """One hash per whole block of `tokens`; hash i names the prefix of blocks 0..i."""
    hashes: list[bytes] = []
    previous = b""
    for end in range(block_tokens, len(tokens) + 1, block_tokens):
        block = np.asarray(tokens[end - block_tokens : end], dtype=np.int64).tobytes()
        previous = hashlib.blake2b(previous + block, digest_size=16).digest()
        hashes.append(previous)
    return hashes


class PrefixCache:
    def __init__(self, capacity_tokens: int, block_tokens: int = 16) -> None:
        if block_tokens < 1 or capacity_tokens < block_tokens:
            raise ValueError(
                f"need 1 <= block_tokens ({block_tokens}) <= capacity_tokens ({capacity_tokens})"
            )
        self.capacity_tokens = capacity_tokens
        self.block_tokens = block_tokens
        self._entries: OrderedDict[int, tuple[KVCache, list[bytes]]] = OrderedDict()  # LRU first
        self._index: dict[bytes, dict[int, None]] = {}  # block hash → ids of entries holding it
        self._ids = count()
        self._tokens = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.hit_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def tokens(self) -> int:
        """Token positions held, over all entries."""
        return self._tokens

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "hit_tokens": self.hit_tokens,
                "entries": len(self._entries),
                "tokens": self._tokens,
            }

    def lookup(self, tokens: Sequence[int]) -> KVCache | None:
        """The cache of the longest block-aligned prefix of `tokens` held here, leaving at least the last
        token to compute (prefill needs its logits); None when no block matches."""
        tokens = tuple(tokens)
        hashes = chain_hashes(tokens[: max(0, len(tokens) - 1)], self.block_tokens)
        with self._lock:
            for blocks in range(len(hashes), 0, -1):
                length = blocks * self.block_tokens
                for entry_id in self._index.get(hashes[blocks - 1], {}):
                    cache = self._entries[entry_id][0]
                    if cache.tokens[:length] == tokens[:length]:  # proof against hash collisions
                        self._entries.move_to_end(entry_id)
                        self.hits += 1
                        self.hit_tokens += length
                        return cache.prefix(length)
            self.misses += 1
            return None

    def insert(self, cache: KVCache) -> None:
        """Keep the block-aligned prefix of `cache` (at most `capacity_tokens` of it)."""
        length = min(len(cache), self.capacity_tokens) // self.block_tokens * self.block_tokens
        if not length:
            return
        hashes = chain_hashes(cache.tokens[:length], self.block_tokens)
        with self._lock:
            for entry_id in self._index.get(hashes[-1], {}):
                if self._entries[entry_id][0].tokens[:length] == cache.tokens[:length]:
                    self._entries.move_to_end(entry_id)  # already held, perhaps inside a longer entry
                    return
            for blocks, block_hash in enumerate(hashes, start=1):  # entries the new one extends go
                for entry_id in list(self._index.get(block_hash, {})):
                    held = self._entries[entry_id][0].tokens
                    if len(held) == blocks * self.block_tokens and held == cache.tokens[: len(held)]:
                        self._remove(entry_id)
            prefix = cache.prefix(length)
            entry = KVCache(_copy(prefix.keys), _copy(prefix.values), prefix.tokens)
            entry_id = next(self._ids)
            self._entries[entry_id] = (entry, hashes)
            for block_hash in hashes:
                self._index.setdefault(block_hash, {})[entry_id] = None
            self._tokens += length
            while self._tokens > self.capacity_tokens:
                self._remove(next(iter(self._entries)))

    def _remove(self, entry_id: int) -> None:
        entry, hashes = self._entries.pop(entry_id)
        self._tokens -= len(entry)
        for block_hash in hashes:
            holders = self._index[block_hash]
            del holders[entry_id]
            if not holders:
                del self._index[block_hash]


def _copy(tensor: Tensor) -> Tensor:
    """A compact copy: a view would keep its whole base (the full sequence) alive, uncounted."""
    return tensor.clone(memory_format=torch.contiguous_format)
