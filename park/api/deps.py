"""Dependencies shared by the routes: the platform context and bearer-token auth."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from park.control.logs import FollowedLogs
from park.control.packages import PackageStore
from park.control.store import Store
from park.core.errors import UnauthorizedError
from park.federation.runtime import Federation


@dataclass(frozen=True)
class ApiContext:
    store: Store
    logs: FollowedLogs
    token: str
    ready: Callable[[], bool]
    federation: Federation | None = None
    packages: PackageStore | None = None
    """Where `park apply` uploads local working directories; every entry point that runs jobs sets it."""


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.park
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]

_bearer = HTTPBearer(auto_error=False)


def require_token(
    context: ContextDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if credentials is None:
        raise UnauthorizedError(
            "missing bearer token: pass --token, set PARK_TOKEN, or use the state dir of `park up`"
        )
    if not hmac.compare_digest(credentials.credentials.encode(), context.token.encode()):
        raise UnauthorizedError("invalid bearer token")
