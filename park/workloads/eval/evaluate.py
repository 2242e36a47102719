"""Held-out evaluation of a charlm model: cross-entropy, perplexity and next-character accuracy.

Deterministic: the held-out text is cut into consecutive, non-overlapping windows of `block_size`
characters (each predicting its next characters), evaluated in order without dropout.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from park.workloads.models.charlm import CharLM


def windows(tokens: Tensor, block_size: int) -> tuple[Tensor, Tensor]:
    """(inputs, targets) of shape (n, block_size), from consecutive windows of `tokens`."""
    count = (tokens.numel() - 1) // block_size
    if count < 1:
        raise ValueError(f"{tokens.numel()} held-out characters are too few for block_size {block_size}")
    used = tokens[: count * block_size + 1]
    return used[:-1].view(count, block_size), used[1:].view(count, block_size)


@torch.no_grad()
def evaluate(model: CharLM, tokens: Tensor, *, batch_size: int) -> dict[str, Any]:
    model.eval()
    device = next(model.parameters()).device
    inputs, targets = windows(tokens, model.config.block_size)
    total_loss = 0.0
    correct = 0
    for start in range(0, inputs.shape[0], batch_size):
        x = inputs[start : start + batch_size].to(device)
        y = targets[start : start + batch_size].to(device)
        logits = model(x)
        total_loss += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
        ).item()
        correct += int((logits.argmax(dim=-1) == y).sum().item())
    count = targets.numel()
    loss = total_loss / count
    return {
        "loss": loss,
        "perplexity": math.exp(loss),
        "bitsPerChar": loss / math.log(2),
        "accuracy": correct / count,
        "tokens": count,
    }
