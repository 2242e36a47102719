"""Park's error tree. Every error a user can cause is one of these, with a one-line message.

    ParkError
    ├── InvalidError            the input is wrong (bad YAML, unknown field, bad name)      -> 422
    ├── NotFoundError           no such object                                             -> 404
    ├── ConflictError           stale resourceVersion, or the object already exists        -> 409
    │   └── AlreadyExistsError
    ├── GoneError               a watch asked for history that was compacted away          -> 410
    ├── UnauthorizedError       missing or wrong token                                     -> 401
    ├── StateLockedError        another `park up` owns the state directory
    ├── PortInUseError          a port Park must listen on is taken (another `park up`?)
    ├── ApiUnavailableError     a client cannot reach the Park API
    └── SubstrateError          Ray (or Kubernetes) refused or could not be reached        -> 502
        └── SubstrateUnavailableError   the cluster is not reachable right now (retry)     -> 503

HTTP status codes are mapped in one place (`park.api.errors`); the client maps them back
(`park.client`), so a CLI user sees the same one-line message the server produced.
"""

from __future__ import annotations


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
