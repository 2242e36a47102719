"""The KV cache of one sequence, and its wire form for handing a prefilled prompt to a decode replica.

A `KVCache` is immutable: every step that extends a sequence makes a new one, so a cache can be shared
(the prefix cache hands out views of its entries) without anyone seeing it change. That is also what
lets `from_payload` wrap Ray's read-only, zero-copy numpy arrays as they are: nothing ever writes
into a cache's tensors in place.

The payload carries a SHA-256 digest over the shapes, the key and value bytes and the token ids, so a
decode replica refuses a cache that was truncated or mixed up in transit instead of generating from it.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.dlpack import from_dlpack


class KVCacheCorrupted(ValueError):  # noqa: N818 - the serving API's name
    """A payload's digest does not match its contents."""


@dataclass(frozen=True, eq=False)
class KVPayload:
    """A `KVCache` as plain numpy arrays (contiguous, float32, CPU) that Ray serialises without pickling."""

    keys: np.ndarray
    values: np.ndarray
    tokens: tuple[int, ...]
    digest: str

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.values.nbytes) + 8 * len(self.tokens)


@dataclass(frozen=True, eq=False)
class KVCache:
    """Keys and values of every layer for the `tokens` of one sequence: (n_layer, n_head, T, head_dim)."""

    keys: Tensor
    values: Tensor
    tokens: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.keys.dim() != 4 or self.keys.shape != self.values.shape:
            raise ValueError(
                f"keys {tuple(self.keys.shape)} and values {tuple(self.values.shape)} must share one "
                "(n_layer, n_head, T, head_dim) shape"
            )
        if self.keys.shape[2] != len(self.tokens):
            raise ValueError(f"the cache holds {self.keys.shape[2]} positions for {len(self.tokens)} tokens")

    def __len__(self) -> int:
        return len(self.tokens)

    def prefix(self, n: int) -> KVCache:
        """The first `n` positions, as views that share this cache's memory."""
        if not 0 <= n <= len(self):
            raise ValueError(f"a prefix of {n} positions of a cache of {len(self)}")
        return KVCache(self.keys[:, :, :n], self.values[:, :, :n], self.tokens[:n])

    def to_payload(self) -> KVPayload:
        keys = _to_numpy(self.keys)
        values = _to_numpy(self.values)
        return KVPayload(keys, values, self.tokens, _digest(keys, values, self.tokens))

    @classmethod
    def from_payload(cls, payload: KVPayload, *, verify: bool = True) -> KVCache:
        """Wrap the payload's arrays without copying; they may be read-only (Ray's object store)."""
        if verify and _digest(payload.keys, payload.values, payload.tokens) != payload.digest:
            raise KVCacheCorrupted(f"KV cache of {len(payload.tokens)} tokens does not match its digest")
        return cls(_from_numpy(payload.keys), _from_numpy(payload.values), tuple(payload.tokens))


def _to_numpy(tensor: Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


def _from_numpy(array: np.ndarray) -> Tensor:
    # DLPack carries a read-only flag (numpy >= 2.1 exports it), so a read-only array is wrapped as it is,
    # without torch's warning that `from_numpy` gives (and the test suite turns warnings into errors).
    try:
        return from_dlpack(array)
    except BufferError:  # an older numpy refuses to export a read-only array through DLPack
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.from_numpy(array)


def _digest(keys: np.ndarray, values: np.ndarray, tokens: Sequence[int]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{keys.dtype.str}{keys.shape}{values.dtype.str}{values.shape}{len(tokens)}".encode())
    for array in (keys, values):
        digest.update(np.ascontiguousarray(array).data)  # hashes the buffer in place when contiguous
    digest.update(np.asarray(tokens, dtype=np.int64).tobytes())
    return digest.hexdigest()
