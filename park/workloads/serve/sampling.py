"""Sampling parameters and next-token sampling: greedy, temperature and nucleus (top-p).

Sampling happens on the CPU with a per-request `torch.Generator`, so a request with a seed produces the
same tokens whatever else is in its batch and whichever device holds the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

_SEED_MIX = 0x9E3779B97F4A7C15  # spreads (seed, stream) pairs apart, so neighbouring seeds share no stream


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()  # stop strings, matched on the decoded completion

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be positive: {self.max_tokens}")
        if self.temperature < 0.0:
            raise ValueError(f"temperature must not be negative: {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1]: {self.top_p}")
        if any(not stop for stop in self.stop):
            raise ValueError("stop strings must not be empty")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def make_generator(params: SamplingParams, *, stream: int = 0) -> torch.Generator | None:
    """The request's generator: None when greedy, seeded from `(seed, stream)` or at random without a seed.

    Prefill samples the first token on stream 0 and the decode batcher the rest on stream 1, so the two
    halves of a request draw independent numbers even though each seeds its own generator.
    """
    if params.greedy:
        return None
    generator = torch.Generator()
    if params.seed is None:
        generator.seed()
    else:
        generator.manual_seed((params.seed * _SEED_MIX + stream) % 2**63)
    return generator


def sample_token(logits: Tensor, params: SamplingParams, generator: torch.Generator | None) -> int:
    """One token id from `logits` (vocab,)."""
    logits = logits.detach().to("cpu", torch.float32)
    if params.greedy:
        return int(logits.argmax())
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        before = sorted_probs.cumsum(0) - sorted_probs  # mass of the more likely tokens
        sorted_probs[before >= params.top_p] = 0.0  # the most likely token always stays
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))
