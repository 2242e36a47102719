"""The one place Park errors become HTTP responses: `{"reason", "message", "code"}`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from park.core.errors import (
    ConflictError,
    GoneError,
    InvalidError,
    NotFoundError,
    ParkError,
    SubstrateError,
    SubstrateUnavailableError,
    TooLargeError,
    UnauthorizedError,
)

STATUS_BY_ERROR: list[tuple[type[ParkError], int]] = [  # the first that matches: subclasses first
    (TooLargeError, 413),
    (InvalidError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (GoneError, 410),
    (UnauthorizedError, 401),
    (SubstrateUnavailableError, 503),
    (SubstrateError, 502),
]


def status_code_for(exc: ParkError) -> int:
    for error_type, code in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return code
    return 500


def error_response(*, code: int, reason: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse(
        {"reason": reason, "message": message, "code": code}, status_code=code, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ParkError)
    async def park_error(_: Request, exc: ParkError) -> JSONResponse:
        return error_response(code=status_code_for(exc), reason=exc.reason, message=exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return error_response(code=422, reason="Invalid", message=f"{where}: {first['msg']}")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        reason = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthorized"}.get(exc.status_code, "Error")
        return error_response(code=exc.status_code, reason=reason, message=str(exc.detail))
