"""The OpenAI wire format: strict requests, the chat template, SSE framing, stop strings, error mapping."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from ray import exceptions as ray_exceptions

from park.workloads.serve import protocol as p
from park.workloads.serve.args import ServeArgs
from park.workloads.serve.backend import classify
from park.workloads.serve.engine import PromptError
from park.workloads.serve.kv import KVCacheCorrupted
from park.workloads.serve.stops import StopFilter


def test_completion_request_defaults_and_stop_strings() -> None:
    body = p.CompletionRequest.model_validate({"model": "m", "prompt": "hello", "stop": "\n"})
    assert body.prompt_text() == "hello"
    assert body.stop_strings() == ("\n",)
    assert body.temperature == 1.0  # OpenAI's default, not greedy
    assert not body.stream and not body.include_usage()
    listed = p.CompletionRequest.model_validate({"model": "m", "prompt": ["hi"], "stop": ["a", "b"]})
    assert listed.prompt_text() == "hi"
    assert listed.stop_strings() == ("a", "b")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "m", "prompt": "x", "logprobs": 2}, "logprobs"),
        ({"model": "m", "prompt": "x", "n": 2}, "n"),
        ({"model": "m", "prompt": ["a", "b"]}, "prompt"),
        ({"model": "m", "prompt": "x", "echo": True}, "echo"),
        ({"model": "m", "prompt": "x", "stop": [""]}, "stop"),
        ({"model": "m", "prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "prompt": "x", "temperature": -1}, "temperature"),
        ({"prompt": "x"}, "model"),
    ],
)
def test_completion_request_rejects_what_it_cannot_honour(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        p.CompletionRequest.model_validate(body)
    assert caught.value.errors()[0]["loc"][0] == field


def test_chat_request_takes_max_completion_tokens() -> None:
    body = p.ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 7}
    )
    assert body.max_tokens == 7
    with pytest.raises(ValidationError):
        p.ChatCompletionRequest.model_validate({"model": "m", "messages": []})
    with pytest.raises(ValidationError):
        p.ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "tool", "content": "x"}]})


def test_chat_template_is_plain_text_ending_in_the_assistant_turn() -> None:
    messages = [
        p.ChatMessage(role="system", content="be brief"),
        p.ChatMessage(role="user", content="hi"),
    ]
    assert p.chat_prompt(messages) == "system: be brief\nuser: hi\nassistant: "


def test_sse_framing_and_error_event() -> None:
    frame = p.sse({"a": "line\nbreak"})
    assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    assert frame.count(b"\n") == 2  # JSON escapes the newline: one data line per event
    assert json.loads(frame[len(b"data: ") :]) == {"a": "line\nbreak"}
    error = p.OpenAIError("replica\nlost", status=503, type_="server_error", code="replica_lost")
    event = p.sse_error(error)
    assert event.startswith(b"event: error\ndata: ")
    assert json.loads(event.split(b"data: ", 1)[1]) == {
        "error": {"message": "replica lost", "type": "server_error", "code": "replica_lost"}
    }
    assert p.SSE_DONE == b"data: [DONE]\n\n"


def test_chunks_have_openai_shapes() -> None:
    first = p.chat_chunk(request_id="c", model="m", text="a", finish_reason=None, first=True)
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "a"}
    last = p.chat_chunk(request_id="c", model="m", text="", finish_reason="stop", first=False)
    assert last["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    whole = p.completion_response(
        request_id="x",
        model="m",
        text="hi",
        finish_reason="length",
        prompt_tokens=3,
        completion_tokens=2,
        park={},
    )
    assert whole["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert whole["choices"][0]["text"] == "hi"


@pytest.mark.parametrize(
    ("stops", "pieces", "expected"),
    [
        (("END",), ["ab", "cE", "N", "Dxyz"], ["ab", "c", "", ""]),  # held back, then cut
        (("END",), ["ab", "cE", "Nx"], ["ab", "c", "ENx"]),  # a false start is released
        (("\n", "zz"), ["a\nb"], ["a"]),
        ((), ["a", "b"], ["a", "b"]),
    ],
)
def test_stop_filter_never_sends_the_stop_string(
    stops: tuple[str, ...], pieces: list[str], expected: list[str]
) -> None:
    stop_filter = StopFilter(stops)
    assert [stop_filter.push(piece) for piece in pieces] == expected


def test_stop_filter_flushes_at_the_end() -> None:
    stop_filter = StopFilter(("END",))
    assert stop_filter.push("aE") == "a"
    assert stop_filter.push("N", final=True) == "EN"


@pytest.mark.parametrize(
    ("exc", "status", "code", "retryable"),
    [
        (ray_exceptions.ActorDiedError(), 503, "replica_lost", True),
        (ray_exceptions.ActorUnavailableError("gone", None), 503, "replica_lost", True),
        (KVCacheCorrupted("digest"), 500, "kv_cache_corrupted", False),
        (PromptError("too long"), 400, "invalid_prompt", False),
        (TimeoutError(), 504, "timeout", False),
        (RuntimeError("boom"), 500, "internal_error", False),
    ],
)
def test_failures_map_to_openai_errors(exc: BaseException, status: int, code: str, retryable: bool) -> None:
    failure = classify(exc)
    assert (failure.error.status, failure.error.code, failure.retryable) == (status, code, retryable)


def test_a_wrapped_replica_error_is_classified_by_its_cause() -> None:
    wrapped = ray_exceptions.RayTaskError("generate", "traceback", KVCacheCorrupted("bad digest"))
    assert classify(wrapped).error.code == "kv_cache_corrupted"


def test_serve_args_are_strict() -> None:
    args = ServeArgs.model_validate({"model": "/models/shakespeare", "num_replicas": {"prefill": 2}})
    assert args.model_name == "shakespeare"
    assert args.replicas("prefill") == 2 and args.replicas("decode") == 1
    with pytest.raises(ValidationError, match="mode"):
        ServeArgs.model_validate({"model": "x", "mode": "fast"})
    with pytest.raises(ValidationError, match="max_batch"):
        ServeArgs.model_validate({"model": "x", "max_batch": 4})
    with pytest.raises(ValidationError, match="no deployment named 'prefil'"):
        ServeArgs.model_validate({"model": "x", "num_replicas": {"prefil": 2}})
    with pytest.raises(ValidationError, match="prefix_cache_tokens"):
        ServeArgs.model_validate({"model": "x", "prefix_cache_tokens": 8, "prefix_block_tokens": 16})
