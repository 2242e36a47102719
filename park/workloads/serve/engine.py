"""The inference engine: a charlm model with KV-cached prefill and batched decode steps (pure PyTorch).

Prefill and decode are separate calls because they may run in different processes: a prefill replica
turns a prompt into a `KVCache` and the first token's logits, ships the cache (`KVCache.to_payload`), and
a decode replica extends many caches at once, one token per step, while requests come and go
(`batching.ContinuousBatcher`). Every path computes what `CharLM.forward` over the whole sequence would,
to float precision, so greedy output does not depend on batching or on prefix caching.

The engine holds no per-request state and never changes a cache in place, so one engine may serve
prefill and decode alike. Its calls are not safe to make from several threads at once: a deployment
runs them one at a time (and sets torch's thread count for its share of the CPUs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from park.workloads.models.charlm import CharLMConfig, CharVocab, ExpertDispatch, LoadedCharLM, load_charlm
from park.workloads.serve.cached_forward import forward_with_cache
from park.workloads.serve.kv import KVCache
from park.workloads.serve.sampling import SamplingParams, make_generator, sample_token

__all__ = ["CharLMEngine", "PromptError", "SamplingParams"]


class PromptError(ValueError):
    """The prompt cannot be served: nothing of it is in the vocabulary, or it leaves no room to generate."""


class CharLMEngine:
    def __init__(self, loaded: LoadedCharLM, *, dispatch: ExpertDispatch | None = None) -> None:
        """`dispatch` reaches the experts of an MoE model elsewhere; None runs them in this process."""
        if dispatch is not None and not loaded.config.n_expert:
            raise ValueError("an expert dispatcher was given for a dense model")
        self._model = loaded.model.eval()
        self._vocab = loaded.vocab
        self._dispatch = dispatch
        self._device = next(self._model.parameters()).device
        config = loaded.config
        self._cache_shape = (config.n_layer, config.n_head, 0, config.d_model // config.n_head)

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        dispatch: ExpertDispatch | None = None,
        map_location: str | torch.device = "cpu",
    ) -> CharLMEngine:
        return cls(load_charlm(directory, map_location=map_location), dispatch=dispatch)

    @property
    def vocab(self) -> CharVocab:
        return self._vocab

    @property
    def config(self) -> CharLMConfig:
        return self._model.config

    @property
    def block_size(self) -> int:
        """The most tokens a sequence (prompt and completion together) can have: the learned positions."""
        return self._model.config.block_size

    @property
    def device(self) -> torch.device:
        return self._device

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, dropping characters the model never saw; at least one must remain."""
        ids = self._vocab.encode(text, strict=False)
        if not ids:
            raise PromptError("the prompt has no character in the model's vocabulary")
        if len(ids) > self.block_size - 1:
            raise PromptError(
                f"the prompt has {len(ids)} tokens; this model reads at most {self.block_size - 1} "
                f"to leave room for one generated token (block_size {self.block_size})"
            )
        return ids

    def decode_text(self, ids: Sequence[int]) -> str:
        return self._vocab.decode(list(ids))

    def prefill(self, tokens: Sequence[int], *, cached: KVCache | None = None) -> tuple[KVCache, Tensor]:
        """The cache for `tokens` and the logits (vocab,) after the last one.

        With `cached` (a cache of a prefix of `tokens`) only the rest is computed. A cache of all of
        `tokens` still recomputes the last one, since the logits after it are not cached.
        """
        ids = self._checked(tokens)
        if not ids:
            raise ValueError("prefill needs at least one token")
        past = cached if cached is not None else self._empty_cache()
        if past.tokens != ids[: len(past)]:
            raise ValueError(f"the cached {len(past)} tokens are not a prefix of the {len(ids)} to prefill")
        past = past.prefix(min(len(past), len(ids) - 1))
        with torch.inference_mode():
            keys, values = past.keys.to(self._device), past.values.to(self._device)
            logits, new_keys, new_values = forward_with_cache(
                self._model,
                torch.tensor([ids[len(past) :]], device=self._device),
                torch.tensor([len(past)], device=self._device),
                keys[None],
                values[None],
                dispatch=self._dispatch,
            )
            cache = KVCache(
                torch.cat([keys, new_keys[0]], dim=2), torch.cat([values, new_values[0]], dim=2), ids
            )
            return cache, logits[0, -1]

    def decode_step(self, batch: Sequence[tuple[KVCache, int]]) -> list[tuple[KVCache, Tensor]]:
        """One token for each sequence, all in one forward pass: (cache, its newest token) → (cache with
        that token, logits (vocab,) for the next).

        Sequences may have different lengths: the caches are right-padded to the longest and the padding
        is masked out, and each new token takes the position after its own sequence.
        """
        if not batch:
            return []
        for cache, token in batch:
            self._checked([token])
            if len(cache) >= self.block_size:
                raise ValueError(f"{len(cache) + 1} tokens exceed block_size {self.block_size}")
        longest = max(len(cache) for cache, _ in batch)
        n_layer, n_head, _, head_dim = self._cache_shape
        shape = (len(batch), n_layer, n_head, longest, head_dim)
        with torch.inference_mode():
            past_keys = torch.zeros(shape, device=self._device)
            past_values = torch.zeros(shape, device=self._device)
            for row, (cache, _) in enumerate(batch):
                past_keys[row, :, :, : len(cache)] = cache.keys
                past_values[row, :, :, : len(cache)] = cache.values
            logits, new_keys, new_values = forward_with_cache(
                self._model,
                torch.tensor([[token] for _, token in batch], device=self._device),
                torch.tensor([len(cache) for cache, _ in batch], device=self._device),
                past_keys,
                past_values,
                dispatch=self._dispatch,
            )
            return [
                (
                    KVCache(
                        torch.cat([past_keys[row, :, :, : len(cache)], new_keys[row]], dim=2),
                        torch.cat([past_values[row, :, :, : len(cache)], new_values[row]], dim=2),
                        (*cache.tokens, int(token)),
                    ),
                    logits[row, 0],
                )
                for row, (cache, token) in enumerate(batch)
            ]

    def sample(self, logits: Tensor, params: SamplingParams, generator: torch.Generator | None) -> int:
        return sample_token(logits, params, generator)

    def generator(self, params: SamplingParams, *, stream: int = 0) -> torch.Generator | None:
        """A request's sampling generator (see `sampling.make_generator`): stream 0 for the first token."""
        return make_generator(params, stream=stream)

    def _checked(self, tokens: Sequence[int]) -> tuple[int, ...]:
        ids = tuple(int(token) for token in tokens)
        if len(ids) > self.block_size:
            raise PromptError(f"{len(ids)} tokens exceed block_size {self.block_size}")
        if any(not 0 <= token < len(self._vocab) for token in ids):
            raise ValueError(f"token ids must be in [0, {len(self._vocab)})")
        return ids

    def _empty_cache(self) -> KVCache:
        empty = torch.zeros(self._cache_shape, device=self._device)
        return KVCache(empty, empty, ())
