"""Park's error tree. Every error a user can cause is one of these, with a one-line message.

    ParkError
    ├── InvalidError            the input is wrong (bad YAML, unknown field, bad name)      -> 422
    │   └── TooLargeError       a body over its limit (a package bigger than allowed)      -> 413
    ├── NotFoundError           no such object                                             -> 404
    ├── ConflictError           stale resourceVersion, or the object already exists        -> 409
    │   └── AlreadyExistsError
    ├── GoneError               a watch asked for history that was compacted away          -> 410
    ├── UnauthorizedError       missing or wrong token                                     -> 401
    ├── StateLockedError        another `park up` owns the state directory
    ├── PortInUseError          a port Park must listen on is taken (another `park up`?)
    ├── ApiUnavailableError     a client cannot reach the Park API
    └── SubstrateError          Ray, Kubernetes or the artifact store refused or failed     -> 502
        └── SubstrateUnavailableError   the cluster is not reachable right now (retry)     -> 503

HTTP status codes are mapped in one place (`park.api.errors`); the client maps them back
(`park.client`), so a CLI user sees the same one-line message the server produced.

An answer that succeeded in part (a list that left out an object it could not read) carries one
HTTP `Warning` header per problem, as the Kubernetes API server does; the CLI prints them, as kubectl does.
"""

from __future__ import annotations

import re


class ParkError(Exception):
    """Base of every error Park raises on purpose. `reason` is a stable CamelCase word."""

    reason = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidError(ParkError):
    reason = "Invalid"


class TooLargeError(InvalidError):
    reason = "TooLarge"


class NotFoundError(ParkError):
    reason = "NotFound"


class ConflictError(ParkError):
    reason = "Conflict"


class AlreadyExistsError(ConflictError):
    reason = "AlreadyExists"


class GoneError(ParkError):
    reason = "Expired"


class UnauthorizedError(ParkError):
    reason = "Unauthorized"


class StateLockedError(ParkError):
    reason = "StateLocked"


class PortInUseError(ParkError):
    reason = "PortInUse"


class ApiUnavailableError(ParkError):
    reason = "ApiUnavailable"


class SubstrateError(ParkError):
    reason = "SubstrateError"


class SubstrateUnavailableError(SubstrateError):
    reason = "SubstrateUnavailable"


ERRORS_BY_REASON: dict[str, type[ParkError]] = {
    cls.reason: cls
    for cls in (
        ParkError,
        InvalidError,
        TooLargeError,
        NotFoundError,
        ConflictError,
        AlreadyExistsError,
        GoneError,
        UnauthorizedError,
        StateLockedError,
        PortInUseError,
        ApiUnavailableError,
        SubstrateError,
        SubstrateUnavailableError,
    )
}


_WARNING_PREFIX, _WARNING_SUFFIX = '299 - "', '"'


def warning_header(text: str) -> str:
    """`text` as an HTTP Warning header value (`299 - "text"`, quoted, ASCII only)."""
    one_line = re.sub(r"[\r\n]+", " ", text)
    ascii_only = one_line.encode("ascii", "backslashreplace").decode("ascii")  # é -> \xe9
    return _WARNING_PREFIX + ascii_only.replace("\\", "\\\\").replace('"', '\\"') + _WARNING_SUFFIX


def warning_text(header: str) -> str:
    """The text of a Warning header value written by `warning_header` (or any other, as it is)."""
    if not (header.startswith(_WARNING_PREFIX) and header.endswith(_WARNING_SUFFIX)):
        return header
    return re.sub(r"\\(.)", r"\1", header[len(_WARNING_PREFIX) : -len(_WARNING_SUFFIX)])
