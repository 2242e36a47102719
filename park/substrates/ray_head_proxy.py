"""A Ray head's dashboard reached through the API server's service proxy: how the operator reads Ray's Jobs
and Serve APIs on a KubeRay cluster without a route of its own into the pod network.

The generated client deserialises a `str` answer into a Python repr of the JSON, so the body is read raw.
A head that does not answer within `PROXY_TIMEOUT_S` must not hold a reconcile; callers fall back to
what KubeRay reports (`UNREADABLE` names what such a failure raises).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import urllib3
from kubernetes.client.exceptions import ApiException

PROXY_TIMEOUT_S = 5.0
UNREADABLE = (ApiException, urllib3.exceptions.HTTPError, OSError, KeyError, TypeError, ValueError)
"""No head to ask (no head Service yet, a head that does not answer) or an answer of another shape."""


class HeadProxy(Protocol):
    """The API server's service proxy (kubernetes' CoreV1Api; a fake in unit tests)."""

    def connect_get_namespaced_service_proxy_with_path(
        self, name: str, namespace: str, path: str, *, _preload_content: bool, _request_timeout: float
    ) -> Any: ...


def dashboard(cluster: str) -> str:
    """The head Service's dashboard port, as the API server's service proxy names it."""
    return f"{cluster}-head-svc:dashboard"


def read_json(proxy: HeadProxy, namespace: str, cluster: str, path: str) -> dict[str, Any]:
    """GET `path` on the cluster's dashboard; one of `UNREADABLE` when it cannot be read as an object."""
    response = proxy.connect_get_namespaced_service_proxy_with_path(
        dashboard(cluster), namespace, path, _preload_content=False, _request_timeout=PROXY_TIMEOUT_S
    )
    data = json.loads(response.data)
    if not isinstance(data, dict):
        raise ValueError(f"the Ray head answered {path} with something other than an object")
    return data
