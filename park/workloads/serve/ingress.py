"""The HTTP face of the serving app: OpenAI-compatible `/v1/completions`, `/v1/chat/completions` and
`/v1/models`, plus `/healthz`, as a FastAPI ingress deployment. The routes parse and delegate to
`completions.Completions`.

Every error leaves as one line of JSON in OpenAI's shape (`{"error": {"message", "type", "code"}}`);
a malformed body is a 400, not FastAPI's 422. Response headers `x-park-prefill-replica` and
`x-park-decode-replica` (and the `park` field of the body, or of the first chunk) name the replicas
that served the request.
"""

# No `from __future__ import annotations`: FastAPI resolves the route methods' annotations at runtime,
# and Serve pickles the ingress class by value when it is decorated, so everything the routes use is
# imported from other modules (a class defined below the ingress would not exist yet at that moment).

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from ray import serve
from starlette.exceptions import HTTPException

from park.workloads.serve import protocol as p
from park.workloads.serve.args import ServeArgs
from park.workloads.serve.backend import Backend
from park.workloads.serve.completions import Completions, Outcome, bad_request

logger = logging.getLogger(__name__)

app = FastAPI(title="Park LLM serving", docs_url=None, redoc_url=None)


@app.exception_handler(p.OpenAIError)
async def _openai_error(_: Request, error: p.OpenAIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


@app.exception_handler(Exception)
async def _unexpected_error(_: Request, error: Exception) -> JSONResponse:
    logger.exception("unexpected error in the ingress")
    return JSONResponse(p.error_body(f"internal error: {error!r}", type_="server_error"), status_code=500)


@app.exception_handler(HTTPException)
async def _http_error(_: Request, error: HTTPException) -> JSONResponse:
    type_ = "invalid_request_error" if error.status_code < 500 else "server_error"
    return JSONResponse(p.error_body(str(error.detail), type_=type_), status_code=error.status_code)


async def parse(request: Request, model: type[p.CompletionRequest] | type[p.ChatCompletionRequest]) -> Any:
    try:
        body = await request.json()
    except ValueError:
        raise bad_request("the request body is not JSON", code="invalid_json") from None
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise bad_request(f"{where}: {first['msg']}", code="invalid_request") from None


def respond(outcome: Outcome) -> Response:
    if outcome.stream is not None:
        return StreamingResponse(outcome.stream, media_type="text/event-stream", headers=outcome.headers)
    return JSONResponse(outcome.body, headers=outcome.headers)


@serve.ingress(app)
class Ingress:
    def __init__(self, args: ServeArgs, generator: Any, prefill: Any | None = None) -> None:
        """`generator`: the decode, monolithic or moe handle; `prefill`: the prefill handle, if any."""
        backend = Backend(
            generator=generator,
            prefill=prefill,
            first_token_timeout_s=args.first_token_timeout_s,
            token_timeout_s=args.token_timeout_s,
            request_timeout_s=args.request_timeout_s,
        )
        self._completions = Completions(args, backend)
        self._args = args
        self._created = int(time.time())

    @app.get("/healthz")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok", "model": self._args.model_name, "mode": self._args.mode}

    @app.get("/v1/models")
    async def models(self) -> dict[str, Any]:
        return p.models_response(self._args.model_name, created=self._created)

    @app.post("/v1/completions")
    async def completions(self, request: Request) -> Response:
        body: p.CompletionRequest = await parse(request, p.CompletionRequest)
        return respond(await self._completions.run(body, body.prompt_text(), chat=False))

    @app.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Response:
        body: p.ChatCompletionRequest = await parse(request, p.ChatCompletionRequest)
        return respond(await self._completions.run(body, p.chat_prompt(body.messages), chat=True))
