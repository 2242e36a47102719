"""The prefix cache: longest block-aligned match, LRU eviction, and warm prefills equal to cold ones."""

from __future__ import annotations

import pytest
import torch

from park.workloads.serve.engine import CharLMEngine
from park.workloads.serve.kv import KVCache
from park.workloads.serve.prefix_cache import PrefixCache, chain_hashes


def _cache(tokens: list[int]) -> KVCache:
    """A fake cache whose keys encode the token ids, so a wrong prefix would show in the values."""
    keys = (
        torch.tensor(tokens, dtype=torch.float32).expand(2, 4, len(tokens))[..., None].expand(-1, -1, -1, 8)
    )
    return KVCache(keys, -keys, tuple(tokens))


def _tokens(n: int, start: int = 0) -> list[int]:
    return [(start + i) % 50 for i in range(n)]


def test_a_miss_then_a_hit_after_insert() -> None:
    cache = PrefixCache(capacity_tokens=256, block_tokens=16)
    prompt = _tokens(40)
    assert cache.lookup(prompt) is None
    cache.insert(_cache(prompt))
    hit = cache.lookup([*prompt, 7])
    assert hit is not None and len(hit) == 32 and hit.tokens == tuple(prompt[:32])
    torch.testing.assert_close(hit.keys[0, 0, :, 0], torch.tensor(prompt[:32], dtype=torch.float32))
    assert cache.stats() == {"hits": 1, "misses": 1, "hit_tokens": 32, "entries": 1, "tokens": 32}


def test_a_hit_leaves_the_last_token_to_compute() -> None:
    cache = PrefixCache(capacity_tokens=256, block_tokens=16)
    cache.insert(_cache(_tokens(32)))
    hit = cache.lookup(_tokens(32))
    assert hit is not None and len(hit) == 16
    assert cache.lookup(_tokens(16)) is None  # 16 tokens: the one whole block would be all of them


def test_the_longest_matching_prefix_wins() -> None:
    cache = PrefixCache(capacity_tokens=1024, block_tokens=4)
    shared = _tokens(8)
    cache.insert(_cache([*shared, 1, 1, 1, 1]))
    cache.insert(_cache([*shared, 2, 2, 2, 2, 2, 2, 2, 2]))
    hit = cache.lookup([*shared, 2, 2, 2, 2, 2, 2, 9, 9])
    assert hit is not None and hit.tokens == (*shared, 2, 2, 2, 2)
    hit = cache.lookup([*shared, 3, 3, 3, 3, 3])
    assert hit is not None and hit.tokens == tuple(shared)
    assert cache.lookup([9, *shared]) is None


def test_least_recently_used_entries_are_evicted() -> None:
    cache = PrefixCache(capacity_tokens=32, block_tokens=16)
    first, second, third = _tokens(17, 0), _tokens(17, 20), _tokens(17, 30)
    cache.insert(_cache(first))
    cache.insert(_cache(second))
    assert cache.lookup(first) is not None  # first is now the most recently used
    cache.insert(_cache(third))
    assert (len(cache), cache.tokens) == (2, 32)
    assert cache.lookup(second) is None
    assert cache.lookup(first) is not None and cache.lookup(third) is not None


def test_an_entry_that_a_longer_one_extends_is_replaced() -> None:
    cache = PrefixCache(capacity_tokens=256, block_tokens=4)
    cache.insert(_cache(_tokens(8)))
    cache.insert(_cache(_tokens(13)))  # holds the first entry's 8 tokens and 4 more
    cache.insert(_cache(_tokens(6)))  # already held inside the longer entry
    assert (len(cache), cache.tokens) == (1, 12)


def test_a_shared_prefix_survives_the_eviction_of_one_holder() -> None:
    cache = PrefixCache(capacity_tokens=16, block_tokens=4)
    shared = _tokens(4)
    cache.insert(_cache([*shared, 1, 1, 1, 1]))
    cache.insert(_cache([*shared, 2, 2, 2, 2]))
    assert cache.lookup([*shared, 1, 1, 1, 1, 0]) is not None  # the first is now the most recent
    cache.insert(_cache(_tokens(8, 30)))  # evicts the second, the last to index the shared block
    hit = cache.lookup([*shared, 5, 5])
    assert hit is not None and hit.tokens == tuple(shared)


def test_entries_are_compact_copies() -> None:
    cache = PrefixCache(capacity_tokens=64, block_tokens=4)
    source = _cache(_tokens(10))
    cache.insert(source)
    hit = cache.lookup(_tokens(10))
    assert hit is not None and hit.keys.untyped_storage().nbytes() == 2 * 4 * 8 * 8 * 4
    assert hit.keys.untyped_storage().data_ptr() != source.keys.untyped_storage().data_ptr()


def test_block_hashes_name_whole_prefixes() -> None:
    a, b = chain_hashes([1, 2, 3, 4, 5], 2), chain_hashes([1, 2, 3, 9], 2)
    assert len(a) == 2 and a[0] == b[0] and a[1] != b[1]
    assert chain_hashes([3, 4], 2)[0] != a[1]  # a block is named with everything before it


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="block_tokens"):
        PrefixCache(capacity_tokens=8, block_tokens=16)


def test_a_prefill_from_the_cache_equals_a_cold_one(engine: CharLMEngine) -> None:
    prefix_cache = PrefixCache(capacity_tokens=512, block_tokens=16)
    system = "you are a helpful assistant. "
    first, _ = engine.prefill(engine.encode(system + "hi"))
    prefix_cache.insert(first)
    tokens = engine.encode(system + "what is two plus two")
    cached = prefix_cache.lookup(tokens)
    assert cached is not None and len(cached) == 16
    warm_cache, warm = engine.prefill(tokens, cached=cached)
    cold_cache, cold = engine.prefill(tokens)
    torch.testing.assert_close(warm, cold, rtol=0, atol=1e-5)
    torch.testing.assert_close(warm_cache.keys, cold_cache.keys, rtol=0, atol=1e-5)
    assert int(warm.argmax()) == int(cold.argmax())
