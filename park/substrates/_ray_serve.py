"""Ray Serve's REST API (`/api/serve/applications/`) for one cluster: declare applications, read state.

The API is declarative: a PUT names every application the cluster should run, and Serve deletes the
ones left out. Its HTTP proxy listens on the port Park chose for the head (`ClusterHandle.serve_url`),
on loopback only, so the first PUT (which starts Serve) and every later one carry the same options.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from park.core.errors import InvalidError, SubstrateError
from park.substrates._ray_dashboard import check, read_json, request
from park.substrates.interface import ClusterHandle, ServeApplicationState, ServeDeploymentState

logger = logging.getLogger(__name__)

DEPLOY_TIMEOUT_S = 60.0  # the first PUT starts Serve's controller and proxy
_PATH = "/api/serve/applications/"
_RESOURCE_NAMES = {"CPU": "cpu", "GPU": "gpu", "memory": "memory"}


def deploy_applications(handle: ClusterHandle, applications: list[dict[str, Any]]) -> None:
    """PUT the cluster's whole application set (Serve's `ServeDeploySchema`)."""
    if not handle.serve_url:
        raise SubstrateError(f"Ray cluster {handle.key} has no Serve port; restart the cluster to serve")
    port = urlsplit(handle.serve_url).port
    body = {
        "proxy_location": "HeadOnly",
        "http_options": {"host": "127.0.0.1", "port": port},
        "applications": applications,
    }
    response = request(handle, "PUT", _PATH, json=body, timeout_s=DEPLOY_TIMEOUT_S)
    check(handle, response, "deploy Serve applications")
    logger.info("declared %d Serve application(s) on cluster %s", len(applications), handle.key)


def check_applications(applications: list[dict[str, Any]]) -> None:
    """Validate entries against Serve's own schema, so one bad service cannot fail a cluster-wide PUT."""
    from pydantic import ValidationError  # noqa: PLC0415
    from ray.serve.schema import ServeApplicationSchema  # noqa: PLC0415 - heavy, only when serving

    for app in applications:
        try:
            ServeApplicationSchema.model_validate(app)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InvalidError(f"application {app.get('name')}: {where}: {first['msg']}") from None


def serve_applications(handle: ClusterHandle) -> dict[str, ServeApplicationState]:
    response = request(handle, "GET", _PATH)
    check(handle, response, "read Serve applications")
    data = read_json(handle, response)
    try:
        return parse_applications(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise SubstrateError(
            f"Ray cluster {handle.key} described its Serve applications in an unknown shape"
        ) from exc


def parse_applications(data: dict[str, Any]) -> dict[str, ServeApplicationState]:
    """Serve's `GET /api/serve/applications/` answer (`ServeInstanceDetails`) → its applications, by name;
    read the same way on `park up` and, through the API server's service proxy, on KubeRay.
    Raises KeyError, TypeError or ValueError on another shape."""
    return {name: _application(name, app) for name, app in (data.get("applications") or {}).items()}


def _application(name: str, app: dict[str, Any]) -> ServeApplicationState:
    return ServeApplicationState(
        name=name,
        status=str(app["status"]),
        message=str(app.get("message") or ""),
        route_prefix=app.get("route_prefix"),
        deployments={dname: _deployment(dname, dep) for dname, dep in (app.get("deployments") or {}).items()},
    )


def _deployment(name: str, dep: dict[str, Any]) -> ServeDeploymentState:
    states: dict[str, int] = {}
    for replica in dep.get("replicas") or []:
        state = str(replica.get("state"))
        states[state] = states.get(state, 0) + 1
    resources = {
        _RESOURCE_NAMES.get(key, key): float(value)
        for key, value in (dep.get("required_resources") or {}).items()
        if value
    }
    return ServeDeploymentState(
        name=name,
        status=str(dep["status"]),
        message=str(dep.get("message") or ""),
        target_replicas=int(dep.get("target_num_replicas") or 0),
        running_replicas=states.get("RUNNING", 0),
        replica_resources=resources,
        replica_states=states,
    )
