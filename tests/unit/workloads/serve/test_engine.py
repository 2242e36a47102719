"""The engine computes what the whole-sequence forward computes, however a sequence is batched or cached.

Greedy generation is compared four ways, on a dense and a mixture-of-experts model: recomputing the
whole sequence with `model(idx)` each step, prefill + decode steps alone, decode steps batched with
other sequences of other lengths, and prefill that reuses a cached prefix.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from torch import Tensor

from park.workloads.models.charlm import CharLM, ExpertMLPs, expert_state_dict, save_charlm
from park.workloads.serve.engine import CharLMEngine, PromptError
from park.workloads.serve.kv import KVCache

from .conftest import BLOCK_SIZE, VOCAB, tiny_model

ATOL = 1e-5


@functools.cache
def _reference(n_expert: int) -> CharLM:
    return tiny_model(n_expert=n_expert).model  # the same seed as the engine's: the same weights


def _full_logits(engine: CharLMEngine, tokens: list[int]) -> Tensor:
    model = _reference(engine.config.n_expert)
    with torch.no_grad():
        logits: Tensor = model(torch.tensor([tokens]))[0, -1]
    return logits


def _recompute_greedy(engine: CharLMEngine, prompt: list[int], steps: int) -> list[int]:
    tokens = list(prompt)
    for _ in range(steps):
        tokens.append(int(_full_logits(engine, tokens).argmax()))
    return tokens[len(prompt) :]


def _cached_greedy(engine: CharLMEngine, prompt: list[int], steps: int) -> list[int]:
    cache, logits = engine.prefill(prompt)
    out = [int(logits.argmax())]
    while len(out) < steps:
        [(cache, logits)] = engine.decode_step([(cache, out[-1])])
        torch.testing.assert_close(logits, _full_logits(engine, [*prompt, *out]), rtol=0, atol=ATOL)
        out.append(int(logits.argmax()))
    return out


def test_prefill_and_decode_steps_generate_what_full_recomputation_does(engine: CharLMEngine) -> None:
    prompt = engine.encode("the quick brown fox")
    steps = BLOCK_SIZE - len(prompt)  # up to the last learned position
    expected = _recompute_greedy(engine, prompt, steps)
    assert len(set(expected)) > 3  # a model that repeats one token would prove little
    assert _cached_greedy(engine, prompt, steps) == expected


def test_sequences_of_different_lengths_decode_together_as_they_do_alone(engine: CharLMEngine) -> None:
    prompts = [engine.encode(text) for text in ("a", "jumps over the lazy dog", "hello there")]
    steps = 12
    alone = [_recompute_greedy(engine, prompt, steps) for prompt in prompts]
    states = []
    for prompt in prompts:
        cache, logits = engine.prefill(prompt)
        states.append((cache, [int(logits.argmax())]))
    for _ in range(steps - 1):
        results = engine.decode_step([(cache, out[-1]) for cache, out in states])
        for (cache, logits), (prompt, (_, out)) in zip(
            results, zip(prompts, states, strict=True), strict=True
        ):
            assert len(cache) == len(prompt) + len(out)
            torch.testing.assert_close(logits, _full_logits(engine, [*prompt, *out]), rtol=0, atol=ATOL)
        states = [
            (cache, [*out, int(logits.argmax())])
            for (cache, logits), (_, out) in zip(results, states, strict=True)
        ]
    assert [out for _, out in states] == alone


def test_a_sequence_joining_a_running_batch_is_unaffected(engine: CharLMEngine) -> None:
    long_cache, _ = engine.prefill(engine.encode("a much longer running sequence"))
    short = engine.encode("hi")
    short_cache, logits = engine.prefill(short)
    token = int(logits.argmax())
    [(alone, alone_logits)] = engine.decode_step([(short_cache, token)])
    [_, (batched, batched_logits)] = engine.decode_step([(long_cache, 3), (short_cache, token)])
    torch.testing.assert_close(batched_logits, alone_logits, rtol=0, atol=ATOL)
    torch.testing.assert_close(batched.keys, alone.keys, rtol=0, atol=ATOL)
    assert batched.tokens == (*short, token)


@pytest.mark.parametrize("cached_length", [1, 16, 24, 25])
def test_prefill_from_a_cached_prefix_matches_a_cold_prefill(
    engine: CharLMEngine, cached_length: int
) -> None:
    tokens = engine.encode("shared system prompt, then")
    assert len(tokens) == 25
    cold_cache, cold_logits = engine.prefill(tokens)
    prefix, _ = engine.prefill(tokens[:cached_length])
    warm_cache, warm_logits = engine.prefill(tokens, cached=prefix)
    torch.testing.assert_close(warm_logits, cold_logits, rtol=0, atol=ATOL)
    torch.testing.assert_close(warm_cache.keys, cold_cache.keys, rtol=0, atol=ATOL)
    torch.testing.assert_close(warm_cache.values, cold_cache.values, rtol=0, atol=ATOL)
    assert warm_cache.tokens == tuple(tokens)
    steps = 10
    assert _cached_greedy_from(engine, warm_cache, warm_logits, steps) == _recompute_greedy(
        engine, tokens, steps
    )


def _cached_greedy_from(engine: CharLMEngine, cache: KVCache, logits: Tensor, steps: int) -> list[int]:
    out = [int(logits.argmax())]
    while len(out) < steps:
        [(cache, logits)] = engine.decode_step([(cache, out[-1])])
        out.append(int(logits.argmax()))
    return out


def test_a_cache_that_is_not_a_prefix_is_refused(engine: CharLMEngine) -> None:
    other, _ = engine.prefill(engine.encode("abc"))
    with pytest.raises(ValueError, match="not a prefix"):
        engine.prefill(engine.encode("abd"), cached=other)


def test_no_sequence_grows_past_the_learned_positions(engine: CharLMEngine) -> None:
    cache, _ = engine.prefill([1] * BLOCK_SIZE)
    assert len(cache) == BLOCK_SIZE
    with pytest.raises(ValueError, match="exceed block_size"):
        engine.decode_step([(cache, 1)])
    with pytest.raises(PromptError, match="exceed block_size"):
        engine.prefill([1] * (BLOCK_SIZE + 1))


def test_prompts_drop_unknown_characters_and_must_leave_room(engine: CharLMEngine) -> None:
    assert engine.decode_text(engine.encode("Hello, World!")) == "ello orld"
    with pytest.raises(PromptError, match="no character"):
        engine.encode("ABC!")
    assert len(engine.encode("a" * (BLOCK_SIZE - 1))) == BLOCK_SIZE - 1
    with pytest.raises(PromptError, match="at most 63"):
        engine.encode("a" * BLOCK_SIZE)


def test_token_ids_outside_the_vocabulary_are_refused(engine: CharLMEngine) -> None:
    with pytest.raises(ValueError, match="token ids"):
        engine.prefill([len(VOCAB)])


def test_a_cache_received_as_read_only_arrays_decodes(engine: CharLMEngine) -> None:
    cache, logits = engine.prefill(engine.encode("over the wire"))
    payload = cache.to_payload()
    payload.keys.flags.writeable = payload.values.flags.writeable = False
    received = KVCache.from_payload(payload)
    token = int(logits.argmax())
    [(_, expected)] = engine.decode_step([(cache, token)])
    [(_, got)] = engine.decode_step([(received, token)])
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_remote_experts_give_the_same_logits_as_local_ones() -> None:
    loaded = tiny_model(n_expert=4)
    experts = {
        e: ExpertMLPs.from_state_dict(loaded.config, e, expert_state_dict(loaded.model, e)) for e in range(4)
    }
    calls: list[int] = []

    def remote(layer: int, inputs: dict[int, Tensor]) -> dict[int, Tensor]:
        calls.append(layer)
        return {expert: experts[expert](layer, rows) for expert, rows in inputs.items()}

    local, distributed = CharLMEngine(loaded), CharLMEngine(loaded, dispatch=remote)
    tokens = local.encode("mixture of experts")
    (local_cache, local_logits), (cache, logits) = local.prefill(tokens), distributed.prefill(tokens)
    torch.testing.assert_close(logits, local_logits, rtol=0, atol=0)
    torch.testing.assert_close(cache.keys, local_cache.keys, rtol=0, atol=0)
    assert calls == [0, 1]


def test_a_dispatcher_for_a_dense_model_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="dense"):
        CharLMEngine(tiny_model(), dispatch=lambda layer, inputs: inputs)


def test_an_engine_loads_a_model_directory(tmp_path: Path) -> None:
    loaded = tiny_model(n_expert=4)
    save_charlm(tmp_path, loaded.model, loaded.vocab)
    engine = CharLMEngine.load(tmp_path)
    assert (engine.config, engine.vocab, engine.block_size) == (loaded.config, VOCAB, BLOCK_SIZE)
    tokens = engine.encode("saved")
    torch.testing.assert_close(
        engine.prefill(tokens)[1], CharLMEngine(loaded).prefill(tokens)[1], rtol=0, atol=0
    )
