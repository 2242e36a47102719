"""Unit tests never reach Ray, a socket or Kubernetes: this makes any attempt fail loudly."""

from __future__ import annotations

import socket
from typing import Any

import pytest


class NetworkForbiddenError(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise NetworkForbiddenError("unit tests must not open network connections; write an integration test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "bind", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    try:
        import ray  # noqa: PLC0415 - only to forbid it
    except ImportError:  # pragma: no cover
        return
    monkeypatch.setattr(ray, "init", refuse)
