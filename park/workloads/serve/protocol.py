"""The OpenAI-compatible wire format of the serving app: request and response models, the chat template
and server-sent-event framing.

Requests are strict (unknown fields are a 400 that names the field) because a silently ignored
`logprobs` or `n=3` would hand a client something other than what it asked for. Responses follow
OpenAI's shapes exactly and add one extension field, `park`, that says which replicas served the
request; OpenAI clients ignore unknown fields.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FinishReason = Literal["stop", "length"]


class OpenAIError(Exception):
    """An error a client caused or must hear about, already in OpenAI's vocabulary."""

    def __init__(self, message: str, *, status: int, type_: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type_
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type_=self.type, code=self.code)


def error_body(message: str, *, type_: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape: `{"error": {"message", "type", "code"}}` (the message on one line)."""
    return {"error": {"message": " ".join(message.split()), "type": type_, "code": code}}


class _Sampling(BaseModel):
    """Fields shared by completions and chat completions."""

    model_config = ConfigDict(extra="forbid")

    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict[str, bool] | None = None
    n: int = Field(1, ge=1, le=1, description="one choice per request")
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _stop_not_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if any(not stop for stop in stops) or len(stops) > 4:
            raise ValueError("stop takes up to 4 non-empty strings")
        return value

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.get("include_usage"))


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    echo: bool = Field(False, description="not supported: must be false")

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("exactly one prompt per request")
        return value

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, value: bool) -> bool:
        if value:
            raise ValueError("echo is not supported")
        return value

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str
    name: str | None = None


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_limit(self) -> ChatCompletionRequest:
        if self.max_tokens is None:
            self.max_tokens = self.max_completion_tokens
        return self


def chat_prompt(messages: list[ChatMessage]) -> str:
    """The chat template: one `role: content` line per message, then the assistant's turn.

    A character model has no special tokens, so the template is plain text that any vocabulary
    trained on prose contains; it is deliberately simple so a client can reproduce it.
    """
    lines = [f"{message.role}: {message.content}\n" for message in messages]
    return "".join(lines) + "assistant: "


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _envelope(request_id: str, kind: str, model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    """What every completion, chat answer and stream chunk carries around its choices."""
    return {"id": request_id, "object": kind, "created": int(time.time()), "model": model, "choices": choices}


def completion_response(
    *,
    request_id: str,
    model: str,
    text: str,
    finish_reason: FinishReason,
    prompt_tokens: int,
    completion_tokens: int,
    park: dict[str, Any],
) -> dict[str, Any]:
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
    body = _envelope(request_id, "text_completion", model, [choice])
    return {**body, "usage": usage(prompt_tokens, completion_tokens), "park": park}


def chat_response(
    *,
    request_id: str,
    model: str,
    text: str,
    finish_reason: FinishReason,
    prompt_tokens: int,
    completion_tokens: int,
    park: dict[str, Any],
) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
    body = _envelope(request_id, "chat.completion", model, [choice])
    return {**body, "usage": usage(prompt_tokens, completion_tokens), "park": park}


def completion_chunk(
    *, request_id: str, model: str, text: str, finish_reason: FinishReason | None
) -> dict[str, Any]:
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
    return _envelope(request_id, "text_completion", model, [choice])


def chat_chunk(
    *, request_id: str, model: str, text: str | None, finish_reason: FinishReason | None, first: bool
) -> dict[str, Any]:
    delta: dict[str, str] = {"role": "assistant"} if first else {}
    if text:
        delta["content"] = text
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return _envelope(request_id, "chat.completion.chunk", model, [choice])


def usage_chunk(
    *, request_id: str, model: str, chat: bool, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    """The last chunk when `stream_options.include_usage` is set: no choices, only usage."""
    kind = "chat.completion.chunk" if chat else "text_completion"
    return {**_envelope(request_id, kind, model, []), "usage": usage(prompt_tokens, completion_tokens)}


def models_response(model: str, *, created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": created, "owned_by": "park"}],
    }


def sse(data: dict[str, Any], *, event: str | None = None) -> bytes:
    """One server-sent event. JSON has no raw newlines, so one `data:` line always suffices."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


SSE_DONE = b"data: [DONE]\n\n"


def sse_error(error: OpenAIError) -> bytes:
    """A mid-stream failure: an `error` event in OpenAI's error shape (the openai client raises it)."""
    return sse(error.body(), event="error")
