"""A small decoder-only, character-level transformer language model (GPT-style) and its checkpoint format.

The checkpoint format is a contract: `train` writes it, `eval` reads it, and serving loads exactly this
directory for KV-cached generation. A model directory holds:

| file | content |
| --- | --- |
| `charlm.json` | `{"format": "park.charlm/v1", "config": CharLMConfig, "vocab": "<chars>", ...extra}` |
| `model.pt` | the model's `state_dict` (CPU tensors; load with `torch.load(..., weights_only=True)`) |

Attention keeps one fused `qkv` projection per block and learned absolute positions, so a KV cache
for generation needs no other weights than these.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import Tensor, nn

FORMAT = "park.charlm/v1"
META_FILE = "charlm.json"
MODEL_FILE = "model.pt"


class CheckpointFormatError(ValueError):
    """The directory is not a `park.charlm/v1` model directory."""


@dataclass(frozen=True)
class CharLMConfig:
    vocab_size: int
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if min(self.vocab_size, self.block_size, self.n_layer, self.n_head, self.d_model) < 1:
            raise ValueError(f"model sizes must be positive: {self}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1): {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharLMConfig:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class CharVocab:
    """The tokenizer: one token per character, in sorted order."""

    chars: str
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("vocabulary characters must be unique")
        object.__setattr__(self, "_index", {char: i for i, char in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str, *, strict: bool = True) -> list[int]:
        """Characters outside the vocabulary raise, or are dropped when `strict` is false."""
        if strict:
            try:
                return [self._index[char] for char in text]
            except KeyError as exc:
                raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None
        return [self._index[char] for char in text if char in self._index]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: CharLMConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout

    def forward(self, x: Tensor) -> Tensor:
        batch, time, channels = x.shape
        q, k, v = self.qkv(x).split(channels, dim=2)
        shape = (batch, time, self.n_head, channels // self.n_head)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(batch, time, channels))  # type: ignore[no-any-return]


class Block(nn.Module):
    def __init__(self, config: CharLMConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, 4 * config.d_model),
            nn.GELU(),
            nn.Linear(4 * config.d_model, config.d_model),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))  # type: ignore[no-any-return]


class CharLM(nn.Module):
    """Token + position embeddings, `n_layer` pre-norm causal blocks, a final norm and the LM head."""

    def __init__(self, config: CharLMConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.block_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(_init_weights)
        for name, param in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):  # GPT-2's scaled residual init
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def forward(self, idx: Tensor) -> Tensor:
        """`idx` (batch, time) token ids → logits (batch, time, vocab)."""
        time = idx.shape[1]
        if time > self.config.block_size:
            raise ValueError(f"sequence of {time} tokens is longer than block_size {self.config.block_size}")
        positions = torch.arange(time, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(positions))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # type: ignore[no-any-return]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)


def lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean next-character cross-entropy (nats per character)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@dataclass(frozen=True)
class LoadedCharLM:
    model: CharLM
    vocab: CharVocab
    meta: dict[str, Any]

    @property
    def config(self) -> CharLMConfig:
        return self.model.config


def save_charlm(directory: Path, model: CharLM, vocab: CharVocab, **extra: Any) -> None:
    """Write the model directory; `extra` (JSON values: step, loss, data) goes into `charlm.json`."""
    if len(vocab) != model.config.vocab_size:
        raise ValueError(f"vocabulary has {len(vocab)} characters, model expects {model.config.vocab_size}")
    directory.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    torch.save(state, directory / MODEL_FILE)
    meta = {**extra, "format": FORMAT, "config": model.config.to_dict(), "vocab": vocab.chars}
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


def read_meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise CheckpointFormatError(f"{directory} holds no readable {META_FILE}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointFormatError(f"{directory / META_FILE} is not in the {FORMAT} format")
    return meta


def load_charlm(directory: Path, *, map_location: str | torch.device = "cpu") -> LoadedCharLM:
    meta = read_meta(directory)
    model = CharLM(CharLMConfig.from_dict(meta["config"]))
    state = torch.load(directory / MODEL_FILE, map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    model.to(map_location)
    return LoadedCharLM(model=model, vocab=CharVocab(meta["vocab"]), meta=meta)
