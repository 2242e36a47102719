"""What travels between the serving app's deployments (pickled by Ray; numpy arrays zero-copy).

The ingress tokenizes once and sends `PrefillRequest`s; a prefill replica answers with a
`PrefillResult` that holds the KV cache as a `KVPayload`. The ingress never reads that result: it
passes the prefill call's response object straight into the decode call, so Ray hands the decode
replica a reference and the payload goes from one replica's object store to the other's. Decode
streams `StreamEvent`s back; the first one names the replicas that served the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from park.workloads.serve.batching import FinishReason, TokenEvent
from park.workloads.serve.kv import KVPayload
from park.workloads.serve.sampling import SamplingParams


@dataclass(frozen=True)
class PrefillRequest:
    request_id: str
    tokens: tuple[int, ...]  # what the routers read (`routing.request_tokens`)
    params: SamplingParams


@dataclass(frozen=True)
class PrefillResult:
    request_id: str
    payload: KVPayload
    first_token: int  # sampled after the prompt, on the request's generator stream 0
    params: SamplingParams
    prefill_replica: str
    cached_tokens: int  # prompt tokens the replica's prefix cache supplied


@dataclass(frozen=True)
class StreamEvent:
    token: int
    text: str
    index: int
    finish_reason: FinishReason | None
    prefill_replica: str | None = None  # set on the first event only
    decode_replica: str | None = None  # set on the first event only
    cached_tokens: int = 0

    @classmethod
    def of(
        cls,
        event: TokenEvent,
        *,
        prefill_replica: str | None = None,
        decode_replica: str | None = None,
        cached_tokens: int = 0,
    ) -> StreamEvent:
        return cls(
            event.token,
            event.text,
            event.index,
            event.finish_reason,
            prefill_replica=prefill_replica,
            decode_replica=decode_replica,
            cached_tokens=cached_tokens,
        )
