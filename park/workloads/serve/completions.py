"""One completion request from parsed body to response, independent of HTTP framework and Serve.

`Completions` checks the model name, tokenizes with the engine's rules (from the checkpoint's
vocabulary alone, never its weights), picks the sampling parameters and runs the generation on a
`Backend`; `Reply` renders the result in OpenAI's shapes, whole or as server-sent events (a failure
after streaming began is an SSE `error` event followed by `data: [DONE]`, so a client always sees the
stream end).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from park.workloads.models.charlm import CharLMConfig, CharVocab, read_meta
from park.workloads.serve import protocol as p
from park.workloads.serve.args import ServeArgs
from park.workloads.serve.backend import Backend, Stream
from park.workloads.serve.calls import PrefillRequest, StreamEvent
from park.workloads.serve.sampling import SamplingParams
from park.workloads.serve.stops import StopFilter

logger = logging.getLogger(__name__)

DEFAULT_COMPLETION_TOKENS = 16  # OpenAI's default for /v1/completions

Body = p.CompletionRequest | p.ChatCompletionRequest


class PromptEncoder:
    """The engine's tokenization rules (`CharLMEngine.encode`) from the checkpoint's metadata alone."""

    def __init__(self, vocab: CharVocab, block_size: int) -> None:
        self.vocab = vocab
        self.block_size = block_size

    def encode(self, text: str) -> tuple[int, ...]:
        ids = self.vocab.encode(text, strict=False)
        if not ids:
            raise bad_request("the prompt has no character in the model's vocabulary", code="invalid_prompt")
        if len(ids) > self.block_size - 1:
            raise bad_request(
                f"the prompt has {len(ids)} tokens; this model reads at most {self.block_size - 1}",
                code="context_length_exceeded",
            )
        return tuple(ids)


def bad_request(message: str, *, code: str) -> p.OpenAIError:
    return p.OpenAIError(message, status=400, type_="invalid_request_error", code=code)


@dataclass(frozen=True)
class Outcome:
    """What the route returns: a JSON body, or a stream of SSE bytes; with the response headers."""

    headers: dict[str, str]
    body: dict[str, Any] | None = None
    stream: AsyncIterator[bytes] | None = None


class Completions:
    def __init__(self, args: ServeArgs, backend: Backend) -> None:
        meta = read_meta(args.model_dir)
        block_size = CharLMConfig.from_dict(meta["config"]).block_size
        self.encoder = PromptEncoder(CharVocab(meta["vocab"]), block_size)
        self._args = args
        self._backend = backend

    async def run(self, body: Body, prompt: str, *, chat: bool) -> Outcome:
        if body.model != self._args.model_name:
            raise p.OpenAIError(
                f"the model {body.model!r} does not exist; this server serves {self._args.model_name!r}",
                status=404,
                type_="invalid_request_error",
                code="model_not_found",
            )
        tokens = self.encoder.encode(prompt)
        params = self._sampling(body, len(tokens), chat=chat)
        request = PrefillRequest(p.new_id("chatcmpl" if chat else "cmpl"), tokens, params)
        reply = Reply(
            request, model=self._args.model_name, mode=self._args.mode, chat=chat, usage=body.include_usage()
        )
        if body.stream:
            stream = await self._backend.open(request)
            return Outcome(reply.headers(stream.first), stream=reply.sse(stream))
        events = await self._backend.complete(request)
        return Outcome(reply.headers(events[0]), body=reply.whole(events))

    def _sampling(self, body: Body, prompt_tokens: int, *, chat: bool) -> SamplingParams:
        room = self.encoder.block_size - prompt_tokens
        wanted = body.max_tokens or (room if chat else DEFAULT_COMPLETION_TOKENS)
        return SamplingParams(
            max_tokens=max(1, min(wanted, room)),
            temperature=body.temperature,
            top_p=body.top_p,
            seed=body.seed,
            stop=body.stop_strings(),
        )


class Reply:
    """One request's response in OpenAI's shapes, whole or as server-sent events."""

    def __init__(self, request: PrefillRequest, *, model: str, mode: str, chat: bool, usage: bool) -> None:
        self._request = request
        self._model = model
        self._mode = mode
        self._chat = chat
        self._usage = usage

    def headers(self, first: StreamEvent) -> dict[str, str]:
        return {
            "x-request-id": self._request.request_id,
            "x-park-prefill-replica": first.prefill_replica or "",
            "x-park-decode-replica": first.decode_replica or "",
        }

    def _park(self, first: StreamEvent) -> dict[str, Any]:
        return {
            "mode": self._mode,
            "prefill_replica": first.prefill_replica,
            "decode_replica": first.decode_replica,
            "cached_prompt_tokens": first.cached_tokens,
        }

    def whole(self, events: list[StreamEvent]) -> dict[str, Any]:
        stops = StopFilter(self._request.params.stop)
        text = stops.push("".join(event.text for event in events), final=True)
        build = p.chat_response if self._chat else p.completion_response
        return build(
            request_id=self._request.request_id,
            model=self._model,
            text=text,
            finish_reason=events[-1].finish_reason or "length",
            prompt_tokens=len(self._request.tokens),
            completion_tokens=len(events),
            park=self._park(events[0]),
        )

    async def sse(self, stream: Stream) -> AsyncIterator[bytes]:
        stops = StopFilter(self._request.params.stop)
        count = sent = 0
        try:
            async for event in stream.events():
                count += 1
                text = stops.push(event.text, final=event.finish_reason is not None)
                if text or event.finish_reason is not None or not sent:  # the first chunk carries `park`
                    yield p.sse(self._chunk(text, event, first=not sent))
                    sent += 1
        except p.OpenAIError as error:
            logger.warning(
                "request %s failed after %d tokens: %s", self._request.request_id, count, error.message
            )
            yield p.sse_error(error)
        else:
            if self._usage:
                yield p.sse(
                    p.usage_chunk(
                        request_id=self._request.request_id,
                        model=self._model,
                        chat=self._chat,
                        prompt_tokens=len(self._request.tokens),
                        completion_tokens=count,
                    )
                )
        finally:
            stream.close()
        yield p.SSE_DONE

    def _chunk(self, text: str, event: StreamEvent, *, first: bool) -> dict[str, Any]:
        rid, model, finish = self._request.request_id, self._model, event.finish_reason
        if self._chat:
            chunk = p.chat_chunk(request_id=rid, model=model, text=text, finish_reason=finish, first=first)
        else:
            chunk = p.completion_chunk(request_id=rid, model=model, text=text, finish_reason=finish)
        if first:
            chunk["park"] = self._park(event)
        return chunk
