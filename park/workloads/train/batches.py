"""Deterministic data order and learning-rate schedule: both are pure functions of the step counter.

Batch `k` of step `s` on worker rank `r` depends only on `(seed, s, r)`, so the data position of a run is
its step counter: a resumed run reads exactly the batches an uninterrupted run would have read, and a
checkpoint needs no data-loader state. Dropout is reseeded the same way, so no RNG state is saved either.
"""

from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor


def stream_seed(*parts: int) -> int:
    """A 63-bit seed mixed from `parts` (stable across processes and Python versions, unlike hash())."""
    digest = hashlib.blake2b(":".join(str(part) for part in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def get_batch(
    tokens: Tensor, *, seed: int, step: int, rank: int, batch_size: int, block_size: int
) -> tuple[Tensor, Tensor]:
    """(inputs, next-character targets), each (batch_size, block_size), sampled from a 1-D token tensor."""
    high = tokens.numel() - block_size - 1
    if high < 0:
        raise ValueError(f"{tokens.numel()} training tokens are too few for block_size {block_size}")
    generator = torch.Generator().manual_seed(stream_seed(seed, step, rank))
    starts = torch.randint(0, high + 1, (batch_size,), generator=generator)
    windows = tokens[starts[:, None] + torch.arange(block_size + 1)]
    return windows[:, :-1], windows[:, 1:]


def lr_at(step: int, *, base_lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Linear warm-up, then cosine decay to `min_lr_ratio * base_lr` at `total_steps`."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    floor = base_lr * min_lr_ratio
    return floor + 0.5 * (base_lr - floor) * (1.0 + math.cos(math.pi * progress))
