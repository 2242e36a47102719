"""The decode replica's asyncio loop around the continuous batcher: joins between steps, leaving early,
and a failed step failing only its own requests."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from park.workloads.serve.batching import ContinuousBatcher, TokenEvent
from park.workloads.serve.decode_loop import DecodeLoop
from park.workloads.serve.engine import CharLMEngine, SamplingParams

from .conftest import tiny_model

GREEDY = SamplingParams(max_tokens=12)


@pytest.fixture
def engine() -> CharLMEngine:
    return CharLMEngine(tiny_model())


def _alone(engine: CharLMEngine, prompt: str, params: SamplingParams) -> list[int]:
    cache, logits = engine.prefill(engine.encode(prompt))
    out = [engine.sample(logits, params, None)]
    while len(out) < params.max_tokens:
        [(cache, logits)] = engine.decode_step([(cache, out[-1])])
        out.append(engine.sample(logits, params, None))
    return out


async def _collect(loop: DecodeLoop, engine: CharLMEngine, request_id: str, prompt: str) -> list[TokenEvent]:
    cache, logits = engine.prefill(engine.encode(prompt))
    first = engine.sample(logits, GREEDY, None)
    return [event async for event in loop.stream(request_id, cache, first, GREEDY)]


def test_requests_join_a_running_batch_and_get_what_they_would_alone(engine: CharLMEngine) -> None:
    async def scenario() -> tuple[list[TokenEvent], list[TokenEvent], int]:
        with ThreadPoolExecutor(1) as executor:
            loop = DecodeLoop(ContinuousBatcher(engine, max_batch_size=4), executor)
            early = asyncio.create_task(_collect(loop, engine, "early", "the quick brown fox"))
            while loop.steps < 3:  # the first request is well under way
                await asyncio.sleep(0.001)
            late = await _collect(loop, engine, "late", "jumps over")
            return await early, late, loop.steps

    early, late, steps = asyncio.run(scenario())
    assert [event.token for event in early] == _alone(engine, "the quick brown fox", GREEDY)
    assert [event.token for event in late] == _alone(engine, "jumps over", GREEDY)
    assert [event.index for event in late] == list(range(12))
    assert early[-1].finish_reason == late[-1].finish_reason == "length"
    assert steps < 2 * (GREEDY.max_tokens - 1)  # the two shared steps: batched, not one after the other


def test_a_consumer_that_leaves_takes_its_request_out_of_the_batch(engine: CharLMEngine) -> None:
    async def scenario() -> int:
        with ThreadPoolExecutor(1) as executor:
            batcher = ContinuousBatcher(engine)
            loop = DecodeLoop(batcher, executor)
            cache, logits = engine.prefill(engine.encode("abc"))
            stream = loop.stream("gone", cache, int(logits.argmax()), SamplingParams(max_tokens=50))
            await anext(stream)
            await anext(stream)
            await stream.aclose()
            for _ in range(100):
                if not len(batcher):
                    break
                await asyncio.sleep(0.01)
            return len(batcher) + loop.active

    assert asyncio.run(scenario()) == 0


def test_a_failed_step_fails_its_requests_and_the_loop_goes_on(engine: CharLMEngine) -> None:
    async def scenario() -> list[TokenEvent]:
        with ThreadPoolExecutor(1) as executor:
            batcher = ContinuousBatcher(engine)
            real_step = batcher.step
            calls = 0

            def flaky_step() -> list[TokenEvent]:
                nonlocal calls
                calls += 1
                if calls == 1:
                    raise RuntimeError("engine fault")
                return real_step()

            batcher.step = flaky_step  # type: ignore[method-assign]
            loop = DecodeLoop(batcher, executor)
            with pytest.raises(RuntimeError, match="engine fault"):
                await _collect(loop, engine, "first", "abc")
            assert not len(batcher)
            return await _collect(loop, engine, "second", "abc")

    assert [event.token for event in asyncio.run(scenario())] == _alone(engine, "abc", GREEDY)


def test_a_token_that_never_comes_times_out(engine: CharLMEngine) -> None:
    async def scenario() -> None:
        with ThreadPoolExecutor(1) as executor:
            batcher = ContinuousBatcher(engine)

            def stuck() -> list[TokenEvent]:
                time.sleep(0.5)
                return []

            batcher.step = stuck  # type: ignore[method-assign]
            loop = DecodeLoop(batcher, executor, event_timeout_s=0.1)
            stream = loop.stream("slow", *engine.prefill(engine.encode("abc"))[:1], 0, GREEDY)
            await anext(stream)  # the first token comes from `add`, without a step
            with pytest.raises(TimeoutError):
                await anext(stream)

    asyncio.run(scenario())
