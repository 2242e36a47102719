"""Continuous batching: decode many requests together, letting them join and leave between steps.

A static batch waits for its longest request; here every `step` runs one decode pass over whichever
requests are active, so a short request finishes and frees its slot while long ones go on, and a new
request joins at the next step instead of waiting for the batch to drain. This class is pure and
synchronous; the decode deployment owns the loop, the locking and the delivery of events.

When more requests are active than `max_batch_size`, each step takes the ones that waited longest
(round robin), so none starves.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from itertools import islice
from typing import Literal

import torch

from park.workloads.serve.engine import CharLMEngine, SamplingParams
from park.workloads.serve.kv import KVCache

FinishReason = Literal["stop", "length"]

DECODE_STREAM = 1  # the generator stream of tokens after the first (prefill samples on stream 0)


@dataclass(frozen=True)
class TokenEvent:
    request_id: str
    token: int
    text: str  # this token's text
    index: int  # 0 for the first generated token
    finish_reason: FinishReason | None  # set on a request's last event


@dataclass
class _Request:
    request_id: str
    cache: KVCache  # every token of the sequence but the newest
    newest: int  # the newest token: sampled, not yet fed to the model
    params: SamplingParams
    generator: torch.Generator | None
    generated: int = 0
    completion: str = ""


class ContinuousBatcher:
    def __init__(self, engine: CharLMEngine, *, max_batch_size: int = 16) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be positive: {max_batch_size}")
        self._engine = engine
        self._max_batch_size = max_batch_size
        self._active: OrderedDict[str, _Request] = OrderedDict()  # least recently stepped first

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(self._active)

    def __len__(self) -> int:
        return len(self._active)

    def add(self, request_id: str, cache: KVCache, first_token: int, params: SamplingParams) -> TokenEvent:
        """Take over a prefilled request: `cache` holds its prompt, `first_token` was sampled after it.

        Returns the first token's event, which may already finish the request (then it is not kept).
        """
        if request_id in self._active:
            raise ValueError(f"request {request_id!r} is already being decoded")
        if not 1 <= len(cache) < self._engine.block_size:
            raise ValueError(f"a prompt of {len(cache)} tokens leaves no room in block_size")
        request = _Request(
            request_id, cache, first_token, params, self._engine.generator(params, stream=DECODE_STREAM)
        )
        event = self._record(request, first_token)
        if event.finish_reason is None:
            self._active[request_id] = request
        return event

    def step(self) -> list[TokenEvent]:
        """One decode pass over up to `max_batch_size` active requests; one event for each."""
        chosen = list(islice(self._active.values(), self._max_batch_size))
        results = self._engine.decode_step([(request.cache, request.newest) for request in chosen])
        events = []
        for request, (cache, logits) in zip(chosen, results, strict=True):
            request.cache = cache
            event = self._record(request, self._engine.sample(logits, request.params, request.generator))
            self._active.move_to_end(request.request_id)
            if event.finish_reason is not None:
                del self._active[request.request_id]
            events.append(event)
        return events

    def cancel(self, request_id: str) -> None:
        """Stop decoding a request (the client went away); unknown or finished requests are ignored."""
        self._active.pop(request_id, None)

    def _record(self, request: _Request, token: int) -> TokenEvent:
        text = self._engine.decode_text([token])
        seen = len(request.completion)
        request.newest, request.completion = token, request.completion + text
        index, request.generated = request.generated, request.generated + 1
        return TokenEvent(request.request_id, token, text, index, self._finish_reason(request, seen))

    def _finish_reason(self, request: _Request, seen: int) -> FinishReason | None:
        # Only a stop string that ends in the new text counts: an earlier one would have stopped already.
        completion = request.completion
        if any(stop in completion[max(0, seen - len(stop) + 1) :] for stop in request.params.stop):
            return "stop"
        full = len(request.cache) + 1 >= self._engine.block_size  # the sequence holds block_size tokens
        if full or request.generated >= request.params.max_tokens:
            return "length"
        return None
