"""How the ingress runs one generation on the model deployments: the handle calls, a timeout on every
wait, one retry when a replica is lost before the client saw a token, and the mapping of whatever
went wrong to an OpenAI error.

Disaggregated: the prefill call's `DeploymentResponse` goes straight into the decode call, so Serve
passes the decode replica an object reference and the KV payload never visits the ingress.
Monolithic and MoE: one call to the replica that does both. A streamed request is a streaming call
(one object per token); a whole completion is one `complete` call (one object in all).

A retry is safe only while nothing has reached the client: a retried stream would repeat (or, when
sampling, contradict) tokens already sent. After the first token a lost replica ends the stream with
an error instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from ray import exceptions as ray_exceptions
from ray.serve import exceptions as serve_exceptions

from park.workloads.serve.calls import PrefillRequest, StreamEvent
from park.workloads.serve.engine import PromptError
from park.workloads.serve.kv import KVCacheCorrupted
from park.workloads.serve.protocol import OpenAIError

logger = logging.getLogger(__name__)

ATTEMPTS = 2

_REPLICA_LOST = (
    ray_exceptions.RayActorError,  # ActorDiedError, ActorUnavailableError
    ray_exceptions.WorkerCrashedError,
    ray_exceptions.ObjectLostError,  # a prefill result lost with its replica's node
    serve_exceptions.ReplicaUnavailableError,
    serve_exceptions.DeploymentUnavailableError,
)


@dataclass(frozen=True)
class Failure:
    error: OpenAIError
    retryable: bool


def classify(exc: BaseException) -> Failure:
    """What a failed call means for the client. Ray wraps a replica's exception in a `RayTaskError` that
    is also an instance of the original class and keeps it as `cause`; the whole chain is looked at,
    a lost replica first (the one failure a retry can mend)."""
    causes = [exc]
    while isinstance(getattr(causes[-1], "cause", None), BaseException) and len(causes) < 8:
        causes.append(causes[-1].cause)  # type: ignore[attr-defined]
    if lost := next((c for c in causes if isinstance(c, _REPLICA_LOST)), None):
        return _failure(f"a model replica was lost: {_first_line(lost)}", 503, "replica_lost", retryable=True)
    for cause in causes:
        if isinstance(cause, KVCacheCorrupted):
            return _failure(str(cause), 500, "kv_cache_corrupted")
        if isinstance(cause, TimeoutError):
            return _failure("the model did not answer in time", 504, "timeout")
        if isinstance(cause, serve_exceptions.BackPressureError):
            return _failure("the model is overloaded; retry later", 503, "overloaded")
        if isinstance(cause, PromptError | ValueError) and not isinstance(cause, ray_exceptions.RayError):
            return _failure(_first_line(cause), 400, "invalid_prompt")
    logger.error("generation failed: %r", exc)
    return _failure(f"generation failed: {_first_line(exc)}", 500, "internal_error")


def _failure(message: str, status: int, code: str, *, retryable: bool = False) -> Failure:
    type_ = "invalid_request_error" if status < 500 else "server_error"
    return Failure(OpenAIError(message, status=status, type_=type_, code=code), retryable)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[-1] if "Traceback" in text else text.splitlines()[0]


class Stream:
    """A started generation whose first event is in hand; iterating yields it, then the rest."""

    def __init__(self, first: StreamEvent, responses: Any, *, token_timeout_s: float) -> None:
        self.first = first
        self._responses = responses
        self._token_timeout_s = token_timeout_s

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Raises `OpenAIError` when the generation fails after its first event."""
        event = self.first
        yield event
        while event.finish_reason is None:
            try:
                event = await asyncio.wait_for(self._responses.__anext__(), self._token_timeout_s)
            except StopAsyncIteration:
                raise OpenAIError(
                    "the model stopped before the end of its answer",
                    status=500,
                    type_="server_error",
                    code="truncated",
                ) from None
            except Exception as exc:
                self.close()
                raise classify(exc).error from exc
            yield event

    def close(self) -> None:
        self._responses.cancel()


class Backend:
    def __init__(
        self,
        *,
        generator: Any,
        prefill: Any | None,
        first_token_timeout_s: float,
        token_timeout_s: float,
        request_timeout_s: float,
    ) -> None:
        """`generator`: the handle whose `generate` streams tokens and whose `complete` returns them all
        (decode, monolithic or moe); `prefill`: the prefill handle in disaggregated mode."""
        self._generator = generator
        self._streaming = generator.options(stream=True)
        self._prefill = prefill
        self._first_token_timeout_s = first_token_timeout_s
        self._token_timeout_s = token_timeout_s
        self._request_timeout_s = request_timeout_s

    def _input(self, request: PrefillRequest) -> Any:
        return request if self._prefill is None else self._prefill.remote(request)

    def _start(self, request: PrefillRequest) -> Any:
        return self._streaming.generate.remote(self._input(request))

    async def open(self, request: PrefillRequest) -> Stream:
        """Start the generation and wait for its first token, retrying once if a replica is lost."""
        for attempt in range(1, ATTEMPTS + 1):
            responses = self._start(replace(request, request_id=f"{request.request_id}.{attempt}"))
            try:
                first = await asyncio.wait_for(responses.__anext__(), self._first_token_timeout_s)
            except asyncio.CancelledError:
                responses.cancel()
                raise
            except StopAsyncIteration:
                raise OpenAIError(
                    "the model returned no token", status=500, type_="server_error", code="empty"
                ) from None
            except Exception as exc:
                responses.cancel()
                failure = classify(exc)
                if failure.retryable and attempt < ATTEMPTS:
                    logger.warning("request %s: %s; retrying", request.request_id, failure.error.message)
                    continue
                raise failure.error from exc
            return Stream(first, responses, token_timeout_s=self._token_timeout_s)
        raise AssertionError("unreachable")  # pragma: no cover

    async def complete(self, request: PrefillRequest) -> list[StreamEvent]:
        """The whole generation in one reply (one object instead of one per token). Nothing reaches the
        client before the end, so a replica lost at any point is retried once."""
        for attempt in range(1, ATTEMPTS + 1):
            response = self._generator.complete.remote(
                self._input(replace(request, request_id=f"{request.request_id}.{attempt}"))
            )
            try:
                events: list[StreamEvent] = await asyncio.wait_for(response, self._request_timeout_s)
            except asyncio.CancelledError:
                response.cancel()
                raise
            except Exception as exc:
                response.cancel()
                failure = classify(exc)
                if failure.retryable and attempt < ATTEMPTS:
                    logger.warning("request %s: %s; retrying", request.request_id, failure.error.message)
                    continue
                raise failure.error from exc
            if not events:
                raise OpenAIError(
                    "the model returned no token", status=500, type_="server_error", code="empty"
                )
            return events
        raise AssertionError("unreachable")  # pragma: no cover
