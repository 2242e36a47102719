"""The ingress's generation runner: one retry while nothing reached the client, timeouts on every wait,
and a clean error once tokens were sent. Driven with fake deployment handles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from ray import exceptions as ray_exceptions

from park.workloads.serve.backend import Backend
from park.workloads.serve.calls import PrefillRequest, StreamEvent
from park.workloads.serve.protocol import OpenAIError
from park.workloads.serve.sampling import SamplingParams

REQUEST = PrefillRequest("cmpl-1", (1, 2, 3), SamplingParams(max_tokens=3))
DIES = "dies"
HANGS = "hangs"


def _event(index: int, last: bool = False) -> StreamEvent:
    return StreamEvent(index, "x", index, "length" if last else None, "p", "d", 0)


class FakeResponses:
    """A `DeploymentResponseGenerator` that plays a script: events, then maybe a death or a hang."""

    def __init__(self, script: list[Any]) -> None:
        self._script = iter(script)
        self.cancelled = False

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        step = next(self._script, None)
        if step is None:
            raise StopAsyncIteration
        if step == DIES:
            raise ray_exceptions.ActorDiedError()
        if step == HANGS:
            await asyncio.sleep(3600)
        return step  # type: ignore[no-any-return]

    def cancel(self) -> None:
        self.cancelled = True


class FakeCall:
    """A non-streaming `DeploymentResponse`: awaiting it plays the whole script at once."""

    def __init__(self, script: list[Any]) -> None:
        self._responses = FakeResponses(script)
        self.cancelled = False

    def __await__(self) -> Any:
        return self._all().__await__()

    async def _all(self) -> list[StreamEvent]:
        return [event async for event in self._responses]

    def cancel(self) -> None:
        self.cancelled = True


class FakeHandle:
    """`handle.options(stream=True).generate.remote(...)` and `handle.complete.remote(...)`, answering
    attempt i with script i."""

    def __init__(self, *scripts: list[Any]) -> None:
        self._scripts = list(scripts)
        self.calls: list[Any] = []
        self.responses: list[FakeResponses | FakeCall] = []
        self.generate = SimpleNamespace(remote=lambda request: self._answer(request, FakeResponses))
        self.complete = SimpleNamespace(remote=lambda request: self._answer(request, FakeCall))

    def options(self, **_: Any) -> FakeHandle:
        return self

    def _answer(self, request: Any, kind: type[FakeResponses] | type[FakeCall]) -> Any:
        self.calls.append(request)
        self.responses.append(kind(self._scripts[len(self.calls) - 1]))
        return self.responses[-1]


def _backend(handle: FakeHandle, *, first_token_timeout_s: float = 5.0) -> Backend:
    return Backend(
        generator=handle,
        prefill=None,
        first_token_timeout_s=first_token_timeout_s,
        token_timeout_s=0.2,
        request_timeout_s=0.5,
    )


async def _stream_all(backend: Backend) -> list[StreamEvent]:
    stream = await backend.open(REQUEST)
    return [event async for event in stream.events()]


def test_a_replica_lost_before_the_first_token_is_retried_once() -> None:
    handle = FakeHandle([DIES], [_event(0), _event(1), _event(2, last=True)])
    events = asyncio.run(_stream_all(_backend(handle)))
    assert [event.index for event in events] == [0, 1, 2]
    assert [call.request_id for call in handle.calls] == ["cmpl-1.1", "cmpl-1.2"]  # a fresh id per attempt
    assert handle.responses[0].cancelled


def test_a_second_loss_is_a_clean_503() -> None:
    handle = FakeHandle([DIES], [DIES], [_event(0)])
    with pytest.raises(OpenAIError) as caught:
        asyncio.run(_stream_all(_backend(handle)))
    assert (caught.value.status, caught.value.code) == (503, "replica_lost")
    assert len(handle.calls) == 2


def test_a_loss_after_tokens_were_streamed_is_not_retried() -> None:
    handle = FakeHandle([_event(0), _event(1), DIES], [_event(0)])

    seen: list[int] = []

    async def scenario() -> None:
        stream = await _backend(handle).open(REQUEST)
        async for event in stream.events():
            seen.append(event.index)

    with pytest.raises(OpenAIError, match="replica was lost"):
        asyncio.run(scenario())
    assert seen == [0, 1]
    assert len(handle.calls) == 1
    assert handle.responses[0].cancelled


def test_a_whole_completion_is_one_call_retried_once_after_a_loss_at_any_point() -> None:
    handle = FakeHandle([_event(0), DIES], [_event(0), _event(1), _event(2, last=True)])
    events = asyncio.run(_backend(handle).complete(REQUEST))
    assert [event.index for event in events] == [0, 1, 2]
    assert [call.request_id for call in handle.calls] == ["cmpl-1.1", "cmpl-1.2"]
    assert all(isinstance(response, FakeCall) for response in handle.responses)
    twice = FakeHandle([DIES], [_event(0), DIES], [_event(0, last=True)])
    with pytest.raises(OpenAIError, match="replica was lost"):
        asyncio.run(_backend(twice).complete(REQUEST))
    assert len(twice.calls) == 2


def test_waits_are_bounded() -> None:
    never_starts = FakeHandle([HANGS])
    with pytest.raises(OpenAIError) as caught:
        asyncio.run(_stream_all(_backend(never_starts, first_token_timeout_s=0.1)))
    assert (caught.value.status, caught.value.code) == (504, "timeout")
    stalls = FakeHandle([_event(0), HANGS])
    with pytest.raises(OpenAIError) as caught:
        asyncio.run(_stream_all(_backend(stalls)))
    assert caught.value.code == "timeout"
    assert stalls.responses[0].cancelled
    whole = FakeHandle([_event(0), HANGS])
    with pytest.raises(OpenAIError, match="in time"):
        asyncio.run(_backend(whole).complete(REQUEST))
    assert whole.responses[0].cancelled
