"""A small decoder-only, character-level transformer language model (GPT-style) and its checkpoint format.

The checkpoint format is a contract: `train` writes it, `eval` reads it, and serving loads exactly this
directory for KV-cached generation. A model directory holds:

| file | content |
| --- | --- |
| `charlm.json` | `{"format": "park.charlm/v1", "config": CharLMConfig, "vocab": "<chars>", ...extra}` |
| `model.pt` | the model's `state_dict` (CPU tensors; load with `torch.load(..., weights_only=True)`) |

Attention keeps one fused `qkv` projection per block and learned absolute positions, so a KV cache
for generation needs no other weights than these.

With `n_expert > 0` each block's feed-forward is a mixture of experts (`MoEFeedForward`): a linear gate
picks `expert_top_k` of `n_expert` MLPs per token. The experts are reached through an `ExpertDispatch`, so
serving can run them in other processes (`expert_state_dict` and `ExpertMLPs` are what such a process
holds); the model's own forward runs them locally. `n_expert == 0` is the dense model, whose `state_dict`
keys are unchanged, so older checkpoints still load.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import Tensor, nn

FORMAT = "park.charlm/v1"
META_FILE = "charlm.json"
MODEL_FILE = "model.pt"

ExpertDispatch = Callable[[int, dict[int, Tensor]], dict[int, Tensor]]
"""(layer, {expert: its hidden rows (n_rows, d_model)}) → {expert: its outputs (n_rows, d_model)}."""


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
    n_expert: int = 0  # 0: a dense MLP per block; otherwise experts per block
    expert_top_k: int = 2  # experts each token is routed to (only when n_expert > 0)

    def __post_init__(self) -> None:
        if min(self.vocab_size, self.block_size, self.n_layer, self.n_head, self.d_model) < 1:
            raise ValueError(f"model sizes must be positive: {self}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1): {self.dropout}")
        if self.n_expert < 0:
            raise ValueError(f"n_expert must be 0 (dense) or positive: {self.n_expert}")
        if self.n_expert and not 1 <= self.expert_top_k <= self.n_expert:
            raise ValueError(f"expert_top_k ({self.expert_top_k}) must be in [1, n_expert={self.n_expert}]")

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


def _mlp(config: CharLMConfig) -> nn.Sequential:
    """The dense feed-forward; also the shape of every expert, so both initialise and load alike."""
    return nn.Sequential(
        nn.Linear(config.d_model, 4 * config.d_model),
        nn.GELU(),
        nn.Linear(4 * config.d_model, config.d_model),
        nn.Dropout(config.dropout),
    )


class MoEFeedForward(nn.Module):
    """A top-k mixture of expert MLPs; `forward` runs them locally unless given another dispatcher."""

    def __init__(self, config: CharLMConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.top_k = config.expert_top_k
        self.gate = nn.Linear(config.d_model, config.n_expert, bias=False)
        self.experts = nn.ModuleList(_mlp(config) for _ in range(config.n_expert))

    def route(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """(weights, experts), both (n_rows, top_k): the top-k experts per row, weights renormalised to 1."""
        probs = F.softmax(self.gate(rows), dim=-1)
        weights, experts = probs.topk(self.top_k, dim=-1)
        return weights / weights.sum(dim=-1, keepdim=True), experts

    def local_dispatch(self, layer: int, inputs: dict[int, Tensor]) -> dict[int, Tensor]:
        return {expert: self.experts[expert](rows) for expert, rows in inputs.items()}

    def forward(self, x: Tensor, dispatch: ExpertDispatch | None = None) -> Tensor:
        shape = x.shape
        rows = x.reshape(-1, shape[-1])
        weights, experts = self.route(rows)
        # While training every expert runs, on no rows if none were picked, so that each parameter is in the
        # graph at every step (DistributedDataParallel refuses parameters a step did not use).
        counts = torch.bincount(experts.flatten(), minlength=len(self.experts))
        picked = range(len(self.experts)) if self.training else counts.nonzero().flatten().tolist()
        slots = {expert: (experts == expert).nonzero(as_tuple=True) for expert in picked}
        inputs = {expert: rows[row_ids] for expert, (row_ids, _) in slots.items()}
        outputs = (dispatch or self.local_dispatch)(self.layer, inputs)
        out = torch.zeros_like(rows)
        for expert, (row_ids, slot) in slots.items():  # a fixed order, so any dispatcher sums alike
            out.index_add_(0, row_ids, outputs[expert] * weights[row_ids, slot].unsqueeze(-1))
        return out.reshape(shape)


class Block(nn.Module):
    def __init__(self, config: CharLMConfig, layer: int = 0) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.d_model)
        # Two attribute names keep the dense model's state_dict keys (`mlp.*`) as they always were.
        if config.n_expert:
            self.moe = MoEFeedForward(config, layer)
        else:
            self.mlp = _mlp(config)

    def feed_forward(self, x: Tensor, dispatch: ExpertDispatch | None = None) -> Tensor:
        """The block's MLP on already-normalised `x`; `dispatch` reaches the experts of an MoE block."""
        if hasattr(self, "moe"):
            return self.moe(x, dispatch)  # type: ignore[no-any-return]
        return self.mlp(x)  # type: ignore[no-any-return]

    def forward(self, x: Tensor, dispatch: ExpertDispatch | None = None) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.feed_forward(self.ln2(x), dispatch)


class CharLM(nn.Module):
    """Token + position embeddings, `n_layer` pre-norm causal blocks, a final norm and the LM head."""

    def __init__(self, config: CharLMConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.block_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, layer) for layer in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(_init_weights)
        for name, param in self.named_parameters():
            if _RESIDUAL_PROJECTION.fullmatch(name):  # GPT-2's scaled residual init
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def forward(self, idx: Tensor, dispatch: ExpertDispatch | None = None) -> Tensor:
        """`idx` (batch, time) token ids → logits (batch, time, vocab); `dispatch` runs MoE experts."""
        time = idx.shape[1]
        if time > self.config.block_size:
            raise ValueError(f"sequence of {time} tokens is longer than block_size {self.config.block_size}")
        positions = torch.arange(time, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(positions))
        for block in self.blocks:
            x = block(x, dispatch)
        return self.head(self.ln_f(x))  # type: ignore[no-any-return]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# The projections that write into the residual stream: attention's, the dense MLP's and every expert's.
_RESIDUAL_PROJECTION = re.compile(r".*\.(attn\.proj|mlp\.2|moe\.experts\.\d+\.2)\.weight")


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)


class ExpertMLPs(nn.Module):
    """One expert index's MLP in every layer: what a process serving that expert holds, and no more.

    Its `state_dict` is `expert_state_dict(model, expert)`: keys `layers.<layer>.<index>.<weight|bias>`.
    """

    def __init__(self, config: CharLMConfig, expert: int) -> None:
        super().__init__()
        if not 0 <= expert < config.n_expert:
            raise ValueError(f"expert {expert} is not in [0, n_expert={config.n_expert})")
        self.config = config
        self.expert = expert
        self.layers = nn.ModuleList(_mlp(config) for _ in range(config.n_layer))

    @classmethod
    def from_state_dict(cls, config: CharLMConfig, expert: int, state: dict[str, Tensor]) -> ExpertMLPs:
        module = cls(config, expert)
        module.load_state_dict(state)
        return module.eval()

    def forward(self, layer: int, rows: Tensor) -> Tensor:
        """This expert of `layer` on `rows` (n_rows, d_model)."""
        return self.layers[layer](rows)  # type: ignore[no-any-return]


def expert_state_dict(model: CharLM, expert: int) -> dict[str, Tensor]:
    """The weights of expert `expert` in every layer, keyed as `ExpertMLPs` expects (CPU, detached)."""
    if not 0 <= expert < model.config.n_expert:
        raise ValueError(f"expert {expert} is not in [0, n_expert={model.config.n_expert})")
    return {
        f"layers.{layer}.{key}": value.detach().cpu()
        for layer, block in enumerate(model.blocks)
        for key, value in _moe(block).experts[expert].state_dict().items()
    }


def _moe(block: nn.Module) -> MoEFeedForward:
    moe = getattr(block, "moe", None)
    if not isinstance(moe, MoEFeedForward):
        raise TypeError(f"{type(block).__name__} is not a mixture-of-experts block")
    return moe


def load_expert(directory: Path, expert: int, *, map_location: str | torch.device = "cpu") -> ExpertMLPs:
    """Expert `expert` of a saved MoE model, memory-mapping `model.pt` so the other experts are not read."""
    config = CharLMConfig.from_dict(read_meta(directory)["config"])
    if not 0 <= expert < config.n_expert:
        raise ValueError(f"expert {expert} is not in [0, n_expert={config.n_expert})")
    state = torch.load(directory / MODEL_FILE, map_location="cpu", weights_only=True, mmap=True)
    prefix = re.compile(rf"blocks\.(\d+)\.moe\.experts\.{expert}\.(.+)")
    picked = {
        f"layers.{match[1]}.{match[2]}": value.clone()  # a copy, so the mapped file can be closed
        for key, value in state.items()
        if (match := prefix.fullmatch(key))
    }
    return ExpertMLPs.from_state_dict(config, expert, picked).to(map_location)


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
