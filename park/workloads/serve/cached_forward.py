"""The charlm forward pass over new tokens that attend to cached keys and values of earlier ones.

This is `CharLM.forward` taken apart: the same weights and the same order of operations, except that
attention runs over `past + new` positions under an explicit mask. One function serves prefill (one
sequence, many new tokens, maybe a cached prefix) and batched decode (many sequences of different
lengths, one new token each): the cached positions of a batch are right-padded to the longest, and the
mask hides the padding, so each row computes exactly what it would alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import Tensor

from park.workloads.models.charlm import Block, CharLM, ExpertDispatch


def attention_mask(lengths: Tensor, past: int, new: int) -> Tensor:
    """(batch, 1, new, past + new), true where attention is allowed.

    Row b sees its first `lengths[b]` cached positions (the rest of `past` is padding) and the new
    positions causally.
    """
    cached = torch.arange(past, device=lengths.device)[None, :] < lengths[:, None]  # (batch, past)
    cached = cached[:, None, None, :].expand(-1, 1, new, -1)
    causal = torch.ones(new, new, dtype=torch.bool, device=lengths.device).tril()
    return torch.cat([cached, causal.expand(lengths.shape[0], 1, new, new)], dim=-1)


def forward_with_cache(
    model: CharLM,
    idx: Tensor,
    lengths: Tensor,
    past_keys: Tensor,
    past_values: Tensor,
    *,
    dispatch: ExpertDispatch | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Logits for the new tokens, and their keys and values.

    `idx` (batch, new) are the new token ids; row b's first new token sits at position `lengths[b]`.
    `past_keys`/`past_values` (batch, n_layer, n_head, past, head_dim) hold the cached positions,
    right-padded to `past`. Returns logits (batch, new, vocab) and the new tokens' keys and values
    (batch, n_layer, n_head, new, head_dim).
    """
    new = idx.shape[1]
    positions = lengths[:, None] + torch.arange(new, device=idx.device)[None, :]
    if int(positions.max()) >= model.config.block_size:
        raise ValueError(f"a position reaches past block_size {model.config.block_size}")
    mask = attention_mask(lengths, past_keys.shape[3], new)
    x = model.drop(model.tok_emb(idx) + model.pos_emb(positions))
    keys, values = [], []
    for layer, block in enumerate(model.blocks):
        assert isinstance(block, Block)  # for mypy: a ModuleList yields Modules
        x, k, v = _block(block, x, past_keys[:, layer], past_values[:, layer], mask, dispatch)
        keys.append(k)
        values.append(v)
    logits = model.head(model.ln_f(x))
    return logits, torch.stack(keys, dim=1), torch.stack(values, dim=1)


def _block(
    block: Block, x: Tensor, past_k: Tensor, past_v: Tensor, mask: Tensor, dispatch: ExpertDispatch | None
) -> tuple[Tensor, Tensor, Tensor]:
    batch, new, channels = x.shape
    attn = block.attn
    q, k, v = attn.qkv(block.ln1(x)).split(channels, dim=2)
    shape = (batch, new, attn.n_head, channels // attn.n_head)
    q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(
        q, torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2), attn_mask=mask
    )
    x = x + attn.proj(y.transpose(1, 2).contiguous().view(batch, new, channels))
    return x + block.feed_forward(block.ln2(x), dispatch), k, v
