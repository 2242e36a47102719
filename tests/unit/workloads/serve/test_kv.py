"""The KV cache: prefixes share memory, and the wire form survives transit or refuses to be used."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from park.workloads.serve.kv import KVCache, KVCacheCorrupted, KVPayload


def _cache(length: int = 5) -> KVCache:
    torch.manual_seed(0)
    shape = (2, 4, length, 8)
    return KVCache(torch.randn(shape), torch.randn(shape), tuple(range(length)))


def test_a_prefix_is_a_view_of_the_first_positions() -> None:
    cache = _cache()
    prefix = cache.prefix(3)
    assert (len(prefix), prefix.tokens) == (3, (0, 1, 2))
    assert prefix.keys.data_ptr() == cache.keys.data_ptr()
    torch.testing.assert_close(prefix.values, cache.values[:, :, :3], rtol=0, atol=0)
    with pytest.raises(ValueError, match="prefix of 6"):
        cache.prefix(6)


def test_shapes_that_do_not_fit_the_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match="5 positions for 4 tokens"):
        KVCache(torch.zeros(2, 4, 5, 8), torch.zeros(2, 4, 5, 8), (1, 2, 3, 4))
    with pytest.raises(ValueError, match="share one"):
        KVCache(torch.zeros(2, 4, 5, 8), torch.zeros(2, 4, 5, 4), (1, 2, 3, 4, 5))


def test_the_payload_round_trips_exactly() -> None:
    cache = _cache().prefix(4)  # a non-contiguous view
    payload = cache.to_payload()
    assert payload.keys.flags.c_contiguous and payload.values.dtype == np.float32
    assert payload.nbytes == 2 * 2 * 4 * 4 * 8 * 4 + 4 * 8
    restored = KVCache.from_payload(payload)
    assert restored.tokens == cache.tokens
    torch.testing.assert_close(restored.keys, cache.keys, rtol=0, atol=0)
    torch.testing.assert_close(restored.values, cache.values, rtol=0, atol=0)


def test_read_only_arrays_are_wrapped_without_copy_or_warning() -> None:
    payload = _cache().to_payload()
    for array in (payload.keys, payload.values):
        array.flags.writeable = False
    restored = KVCache.from_payload(payload)  # pytest turns torch's non-writable warning into an error
    assert restored.keys.data_ptr() == payload.keys.ctypes.data
    assert restored.prefix(2).to_payload().keys.shape == (2, 4, 2, 8)


@pytest.mark.parametrize("part", ["keys", "values", "tokens", "shape"])
def test_a_payload_changed_in_transit_is_refused(part: str) -> None:
    good = _cache().to_payload()
    keys, values, tokens = good.keys.copy(), good.values.copy(), good.tokens
    if part == "keys":
        keys[1, 2, 3, 4] += 1e-3
    elif part == "values":
        values.view(np.uint8)[0] ^= 1
    elif part == "tokens":
        tokens = (*tokens[:-1], tokens[-1] + 1)
    else:
        keys, values = keys.reshape(2, 4, 8, 5), values.reshape(2, 4, 8, 5)
    bad = KVPayload(keys, values, tokens, good.digest)
    with pytest.raises(KVCacheCorrupted, match="digest"):
        KVCache.from_payload(bad)


def test_verification_can_be_skipped() -> None:
    good = _cache().to_payload()
    stale = KVPayload(good.keys, good.values, good.tokens, "0" * 64)
    assert len(KVCache.from_payload(stale, verify=False)) == 5
