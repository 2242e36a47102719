"""Ray's dashboard REST API (Jobs API, state API) for one cluster, speaking Park's errors.

Every request carries the cluster's token and short timeouts, so a dead or hung head turns into
SubstrateUnavailableError within seconds instead of a hang. A job's files reach Ray as URIs of zips
that `park apply` uploaded to the platform (park.core.packages): Ray's SDK, which would upload local
paths itself, is not used.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
from typing import Any, cast

import httpx

from park.core.errors import NotFoundError, SubstrateError, SubstrateUnavailableError
from park.core.packages import local_entries
from park.substrates.interface import (
    ClusterHandle,
    JobInfo,
    JobSubmission,
    RayJobStatus,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 10.0
SUBMIT_TIMEOUT_S = 60.0  # the head waits for its job agent; a first submission can be slow
_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception): ")
_RAY_JOB_STATUSES = frozenset({"PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"})


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def probe(dashboard_url: str, token: str, *, timeout_s: float = 2.0) -> bool:
    """Whether the dashboard answers the Jobs API's version call with this token."""
    try:
        response = _client().get(
            f"{dashboard_url}/api/version", headers=auth_headers(token), timeout=_timeout(timeout_s)
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def submit_job(handle: ClusterHandle, submission: JobSubmission) -> bool:
    local = local_entries(submission.runtime_env)
    if local:  # e.g. a job stored before its files were uploaded by `park apply`
        field, path = local[0]
        raise SubstrateError(
            f"runtimeEnv.{field} {path!r} is a local path, not the URI of an uploaded package: "
            "apply the job again with `park apply`, which uploads it"
        )
    response = request(
        handle, "POST", "/api/jobs/", json=_submit_body(submission), timeout_s=SUBMIT_TIMEOUT_S
    )
    if response.is_error and _already_exists(submission.submission_id, response.text):
        return False  # the head relays its agent's 400 as a 500: the status code does not tell
    check(handle, response, f"submit job {submission.submission_id}")
    logger.info("submitted Ray job %s to cluster %s", submission.submission_id, handle.key)
    return True


def get_job(handle: ClusterHandle, submission_id: str) -> JobInfo | None:
    response = request(handle, "GET", f"/api/jobs/{submission_id}")
    if response.status_code == 404:
        return None
    check(handle, response, f"read job {submission_id}")
    data = read_json(handle, response)
    status = data.get("status")
    if status not in _RAY_JOB_STATUSES:
        raise SubstrateError(
            f"Ray cluster {handle.key} reported unknown status {status!r} for {submission_id}"
        )
    return JobInfo(
        submission_id=submission_id,
        status=cast(RayJobStatus, status),
        message=str(data.get("message") or ""),
        start_time_ms=_optional_int(data.get("start_time")),
        end_time_ms=_optional_int(data.get("end_time")),
    )


def job_logs(handle: ClusterHandle, submission_id: str) -> str:
    """Raises NotFoundError when the cluster does not know the job (e.g. the head was replaced)."""
    response = request(handle, "GET", f"/api/jobs/{submission_id}/logs", timeout_s=30.0)
    if response.status_code == 404:
        raise NotFoundError(f"Ray cluster {handle.key} has no job {submission_id}")
    check(handle, response, f"read logs of job {submission_id}")
    return str(read_json(handle, response).get("logs") or "")


def stop_job(handle: ClusterHandle, submission_id: str) -> bool:
    """True when the job was running and is now being stopped; False when unknown or finished."""
    response = request(handle, "POST", f"/api/jobs/{submission_id}/stop")
    if response.status_code == 404:
        return False
    check(handle, response, f"stop job {submission_id}")
    return bool(read_json(handle, response).get("stopped"))


def cluster_resources(handle: ClusterHandle) -> dict[str, float]:
    """Total resources of the alive nodes, from the state API (`ray list nodes`)."""
    response = request(handle, "GET", "/api/v0/nodes?detail=1&limit=10000")
    check(handle, response, "list nodes")
    envelope = read_json(handle, response)
    if not envelope.get("result"):
        raise SubstrateError(f"Ray cluster {handle.key} could not list nodes: {envelope.get('msg')}")
    totals: dict[str, float] = {}
    try:
        for node in envelope["data"]["result"]["result"]:
            if node["state"] != "ALIVE":
                continue
            for name, amount in (node.get("resources_total") or {}).items():
                if not name.startswith("node:"):  # per-node identity markers, not capacity
                    totals[name] = totals.get(name, 0.0) + float(amount)
    except (KeyError, TypeError, ValueError) as exc:
        raise SubstrateError(f"Ray cluster {handle.key} listed its nodes in an unknown shape") from exc
    return totals


_shared_client: httpx.Client | None = None
_shared_client_lock = threading.Lock()


def _client() -> httpx.Client:
    """One pooled client for every call: building one costs ~20 ms (its SSL context), a call ~1 ms.

    httpx clients are thread-safe; trust_env=False keeps a user's HTTP(S)_PROXY off loopback calls.
    """
    global _shared_client  # noqa: PLW0603 - a process-wide connection pool, created on first use
    with _shared_client_lock:
        if _shared_client is None:
            _shared_client = httpx.Client(trust_env=False, limits=httpx.Limits(max_keepalive_connections=32))
            atexit.register(_shared_client.close)
        return _shared_client


def _timeout(timeout_s: float) -> httpx.Timeout:
    return httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)


def request(
    handle: ClusterHandle,
    method: str,
    path: str,
    *,
    json: dict[str, Any] | None = None,
    timeout_s: float = READ_TIMEOUT_S,
) -> httpx.Response:
    try:
        return _client().request(
            method,
            f"{handle.dashboard_url}{path}",
            json=json,
            headers=auth_headers(handle.token),
            timeout=_timeout(timeout_s),
        )
    except httpx.HTTPError as exc:
        raise SubstrateUnavailableError(
            f"Ray cluster {handle.key} is not reachable at {handle.dashboard_url} "
            f"({type(exc).__name__}); is its head running?"
        ) from exc


def check(handle: ClusterHandle, response: httpx.Response, what: str) -> None:
    if response.status_code in (401, 403):
        raise SubstrateError(
            f"Ray cluster {handle.key} rejected Park's token (HTTP {response.status_code}) "
            f"trying to {what}; restart the cluster"
        )
    if response.status_code in (502, 503, 504) or "try again later" in response.text:
        # e.g. the head has not yet found its job agent: retry, do not fail the job for good
        raise SubstrateUnavailableError(
            f"Ray cluster {handle.key} could not {what} right now: HTTP {response.status_code}: "
            f"{_last_line(response.text)}"
        )
    if response.is_error:
        raise SubstrateError(
            f"Ray cluster {handle.key} could not {what}: HTTP {response.status_code}: "
            f"{_last_line(response.text)}"
        )


def read_json(handle: ClusterHandle, response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise SubstrateError(f"Ray cluster {handle.key} sent a response that is not JSON") from exc
    if not isinstance(data, dict):
        raise SubstrateError(f"Ray cluster {handle.key} sent unexpected JSON: {type(data).__name__}")
    return data


def _already_exists(submission_id: str, error_text: str) -> bool:
    return f"submission_id {submission_id} already exists" in error_text


def _last_line(text: str) -> str:
    """Ray answers errors with (nested) Python tracebacks; the last `XError: ...` line says why."""
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) > 1]
    errors = [line for line in lines if _EXCEPTION_LINE.match(line)]
    found = errors[-1] if errors else lines[-1] if lines else "(empty response)"
    return found[:300]


def _optional_int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and value else None


def _submit_body(submission: JobSubmission) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entrypoint": submission.entrypoint,
        "submission_id": submission.submission_id,
        "runtime_env": submission.runtime_env or None,
        "metadata": submission.metadata or None,
        "entrypoint_num_cpus": submission.entrypoint_num_cpus,
        "entrypoint_num_gpus": submission.entrypoint_num_gpus,
        "entrypoint_memory": submission.entrypoint_memory,
        "entrypoint_resources": submission.entrypoint_resources or None,
    }
    return {key: value for key, value in body.items() if value is not None}
