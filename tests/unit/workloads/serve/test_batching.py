"""Continuous batching: requests join and leave between steps and each gets what it would alone."""

from __future__ import annotations

import pytest

from park.workloads.serve.batching import ContinuousBatcher, TokenEvent
from park.workloads.serve.engine import CharLMEngine, SamplingParams

from .conftest import BLOCK_SIZE


def _generate_alone(engine: CharLMEngine, prompt: str, params: SamplingParams) -> list[int]:
    """Prefill plus single-sequence decode steps: the reference for what batching must not change."""
    tokens = engine.encode(prompt)
    cache, logits = engine.prefill(tokens)
    out = [engine.sample(logits, params, engine.generator(params))]
    decode = engine.generator(params, stream=1)
    while len(out) < params.max_tokens and len(tokens) + len(out) < BLOCK_SIZE:
        [(cache, logits)] = engine.decode_step([(cache, out[-1])])
        out.append(engine.sample(logits, params, decode))
    return out


def _add(
    batcher: ContinuousBatcher, engine: CharLMEngine, request_id: str, prompt: str, params: SamplingParams
) -> TokenEvent:
    cache, logits = engine.prefill(engine.encode(prompt))
    return batcher.add(request_id, cache, engine.sample(logits, params, engine.generator(params)), params)


def _drain(batcher: ContinuousBatcher, tokens: dict[str, list[int]]) -> list[TokenEvent]:
    events = []
    while batcher:
        for event in batcher.step():
            tokens.setdefault(event.request_id, []).append(event.token)
            events.append(event)
    return events


@pytest.mark.parametrize(
    "params", [SamplingParams(max_tokens=20), SamplingParams(max_tokens=20, temperature=0.8, seed=5)]
)
def test_requests_that_join_midway_get_what_they_would_alone(
    engine: CharLMEngine, params: SamplingParams
) -> None:
    prompts = {"a": "once upon a time", "b": "x", "c": "the end is near but not here"}
    batcher = ContinuousBatcher(engine, max_batch_size=8)
    tokens = {"a": [_add(batcher, engine, "a", prompts["a"], params).token]}
    for _ in range(5):
        for event in batcher.step():
            tokens[event.request_id].append(event.token)
    for late in ("b", "c"):  # join a batch already five steps in
        tokens[late] = [_add(batcher, engine, late, prompts[late], params).token]
    events = _drain(batcher, tokens)
    assert tokens == {rid: _generate_alone(engine, prompt, params) for rid, prompt in prompts.items()}
    finished = [event for event in events if event.finish_reason]
    assert sorted(event.request_id for event in finished) == ["a", "b", "c"]
    assert {event.finish_reason for event in finished} == {"length"}
    assert all(event.index == 19 for event in finished)


def test_max_tokens_counts_the_first_token(engine: CharLMEngine) -> None:
    batcher = ContinuousBatcher(engine)
    event = _add(batcher, engine, "one", "hello", SamplingParams(max_tokens=1))
    assert (event.index, event.finish_reason, len(batcher)) == (0, "length", 0)
    assert batcher.step() == []


def test_a_stop_string_finishes_on_the_token_that_completes_it(engine: CharLMEngine) -> None:
    prompt = "to be or not to be"
    free = engine.decode_text(_generate_alone(engine, prompt, SamplingParams(max_tokens=30)))
    stop = free[5:7]
    end = free.index(stop) + len(stop)  # the first place it completes
    batcher = ContinuousBatcher(engine)
    events = [_add(batcher, engine, "s", prompt, SamplingParams(max_tokens=30, stop=("never seen", stop)))]
    events += _drain(batcher, {})
    assert "".join(event.text for event in events) == free[:end]
    assert [event.finish_reason for event in events] == [None] * (end - 1) + ["stop"]


def test_a_sequence_ends_at_block_size(engine: CharLMEngine) -> None:
    prompt = "a" * (BLOCK_SIZE - 3)
    batcher = ContinuousBatcher(engine)
    events = [_add(batcher, engine, "long", prompt, SamplingParams(max_tokens=100))]
    events += _drain(batcher, {})
    assert [event.finish_reason for event in events] == [None, None, "length"]


def test_a_full_batch_steps_round_robin(engine: CharLMEngine) -> None:
    batcher = ContinuousBatcher(engine, max_batch_size=2)
    for rid in "xyz":
        _add(batcher, engine, rid, "fair share", SamplingParams(max_tokens=50))
    stepped = [event.request_id for _ in range(3) for event in batcher.step()]
    assert sorted(stepped) == ["x", "x", "y", "y", "z", "z"]
    assert batcher.active == ("x", "y", "z")  # the least recently stepped first


def test_a_cancelled_request_leaves_the_batch(engine: CharLMEngine) -> None:
    batcher = ContinuousBatcher(engine)
    _add(batcher, engine, "keep", "stay", SamplingParams(max_tokens=10))
    _add(batcher, engine, "drop", "go", SamplingParams(max_tokens=10))
    batcher.cancel("drop")
    batcher.cancel("unknown")
    assert batcher.active == ("keep",)
    assert [event.request_id for event in batcher.step()] == ["keep"]


def test_a_request_id_is_decoded_once(engine: CharLMEngine) -> None:
    batcher = ContinuousBatcher(engine)
    _add(batcher, engine, "dup", "first", SamplingParams())
    with pytest.raises(ValueError, match="already"):
        _add(batcher, engine, "dup", "second", SamplingParams())
