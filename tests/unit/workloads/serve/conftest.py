"""Tiny randomly initialised charlm models, dense and mixture-of-experts, wrapped in engines."""

from __future__ import annotations

import pytest
import torch

from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab, LoadedCharLM
from park.workloads.serve.engine import CharLMEngine

VOCAB = CharVocab("abcdefghijklmnopqrstuvwxyz .")
BLOCK_SIZE = 64


def tiny_model(*, n_expert: int = 0, seed: int = 0) -> LoadedCharLM:
    """Weights drawn wider than the usual init, so logits are decisive and greedy text varies."""
    torch.manual_seed(seed)
    config = CharLMConfig(
        vocab_size=len(VOCAB), block_size=BLOCK_SIZE, n_layer=2, n_head=4, d_model=32, n_expert=n_expert
    )
    model = CharLM(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("weight") and param.dim() > 1:
                param.normal_(0.0, 0.3)
    return LoadedCharLM(model=model, vocab=VOCAB, meta={})


@pytest.fixture(params=[0, 4], ids=["dense", "moe"])
def engine(request: pytest.FixtureRequest) -> CharLMEngine:
    return CharLMEngine(tiny_model(n_expert=request.param))
