"""ParkClient: the REST API in Python calls; server errors come back as the same ParkError types."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from park.client.packaging import Package
from park.core.errors import (
    ERRORS_BY_REASON,
    ApiUnavailableError,
    ConflictError,
    NotFoundError,
    ParkError,
    warning_text,
)
from park.core.kinds import KindInfo, kind_info
from park.core.loading import parse_resource
from park.core.resources import AnyResource
from park.core.settings import Settings

logger = logging.getLogger(__name__)


def kubernetes_owned(annotations: dict[str, str]) -> dict[str, str]:
    """What Kubernetes' own tools keep on an object (kubectl's last-applied-configuration): `park apply`
    leaves them, so `kubectl apply` and `park apply` of the same YAML agree."""
    return {k: v for k, v in annotations.items() if k.split("/", 1)[0].endswith(("kubernetes.io", "k8s.io"))}


@dataclass(frozen=True)
class ApplyResult:
    object: AnyResource
    action: Literal["created", "configured", "unchanged"]


@dataclass(frozen=True)
class Upload:
    """Where a package is stored (the URI a runtime env names) and whether this call had to send it."""

    uri: str
    sent: bool


@dataclass(frozen=True)
class Listing:
    """A list and the resourceVersion it was read at: a watch from there misses nothing, repeats nothing."""

    items: list[AnyResource]
    resource_version: int


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
        reason, message = body.get("reason", "Error"), body.get("message", response.text)
    except (json.JSONDecodeError, AttributeError):
        reason, message = "Error", f"HTTP {response.status_code}: {response.text[:200]}"
    raise ERRORS_BY_REASON.get(reason, ParkError)(message)


def _log_warning(text: str) -> None:
    logger.warning("%s", text)


class ParkClient:
    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        on_warning: Callable[[str], None] = _log_warning,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`on_warning` is told each Warning the server sends with an answer (an object it left out);
        `transport` replaces the network (tests pass an `httpx.MockTransport`)."""
        self.server = server.rstrip("/")
        self._on_warning = on_warning
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout, transport=transport)
        self._streams: set[httpx.Response] = set()
        self._streams_lock = threading.Lock()

    def close(self) -> None:
        """Close the client; a watch or log stream blocked reading in another thread ends at once."""
        with self._streams_lock:
            streams = list(self._streams)
        for response in streams:
            _interrupt(response)
        self._http.close()

    def __enter__(self) -> ParkClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnavailableError(
                f"cannot reach the Park API at {self.server} ({exc}); is `park up` running?"
            ) from exc
        _raise_for(response)
        for header in response.headers.get_list("warning"):
            self._on_warning(warning_text(header))
        return response

    @staticmethod
    def path(info: KindInfo, namespace: str | None, name: str | None = None) -> str:
        base = (
            f"/v1/namespaces/{namespace}/{info.plural}"
            if info.namespaced and namespace
            else f"/v1/{info.plural}"
        )
        return f"{base}/{name}" if name else base

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/version").json()
        return result

    def health(self) -> dict[str, str]:
        """`/healthz` and `/readyz` as words ("ok", "ready", "starting"): a 503 is an answer, not an error."""
        answers = {}
        for probe in ("healthz", "readyz"):
            try:
                response = self._http.get(f"/{probe}")
            except httpx.TransportError as exc:
                raise ApiUnavailableError(f"cannot reach the Park API at {self.server} ({exc})") from exc
            try:
                answers[probe] = str(response.json().get("status", response.status_code))
            except json.JSONDecodeError:
                answers[probe] = f"HTTP {response.status_code}"
        return answers

    def kinds(self) -> list[dict[str, Any]]:
        """The kinds the server serves (its discovery document), which may differ from this client's."""
        resources: list[dict[str, Any]] = self._request("GET", "/v1").json()["resources"]
        return resources

    def list_objects(
        self, kind: str, *, namespace: str | None = None, selector: str | None = None
    ) -> list[AnyResource]:
        params = {"labelSelector": selector} if selector else {}
        body = self._request("GET", self.path(kind_info(kind), namespace), params=params).json()
        return [parse_resource(item) for item in body["items"]]

    def list_with_version(self, kind: str, *, namespace: str | None = None) -> Listing:
        body = self._request("GET", self.path(kind_info(kind), namespace)).json()
        return Listing(
            [parse_resource(item) for item in body["items"]], int(body["metadata"]["resourceVersion"])
        )

    def resource_version(self) -> int:
        """The store's current resourceVersion: watch from here to see only what happens next."""
        return int(self._request("GET", "/v1/queues").json()["metadata"]["resourceVersion"])

    def get(self, kind: str, namespace: str | None, name: str) -> AnyResource:
        return parse_resource(self._request("GET", self.path(kind_info(kind), namespace, name)).json())

    def create(self, obj: AnyResource) -> AnyResource:
        info = kind_info(obj.kind)
        body = self._request("POST", self.path(info, obj.metadata.namespace), json=obj.to_dict()).json()
        return parse_resource(body)

    def update(self, obj: AnyResource) -> AnyResource:
        info = kind_info(obj.kind)
        path = self.path(info, obj.metadata.namespace, obj.metadata.name)
        return parse_resource(self._request("PUT", path, json=obj.to_dict()).json())

    def delete(self, kind: str, namespace: str | None, name: str) -> AnyResource | None:
        """The object as it now stands (being deleted), or None when it is gone."""
        body = self._request("DELETE", self.path(kind_info(kind), namespace, name)).json()
        if body.get("kind") == "Status":  # it was one the server could not read: removed at once
            return None
        return parse_resource(body)

    def events(self, kind: str, namespace: str | None, name: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._request(
            "GET", self.path(kind_info(kind), namespace, name) + "/events"
        ).json()["items"]
        return items

    def all_events(self, *, namespace: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """The newest events of every object, oldest first, each naming its object's kind and name."""
        params: dict[str, Any] = {"limit": limit, **({"namespace": namespace} if namespace else {})}
        items: list[dict[str, Any]] = self._request("GET", "/v1/events", params=params).json()["items"]
        return items

    def apply(self, obj: AnyResource, *, attempts: int = 5) -> ApplyResult:
        """Create, or update spec, labels and annotations of what exists (retrying on conflicts)."""
        for _ in range(attempts):
            try:
                current = self.get(obj.kind, obj.metadata.namespace, obj.metadata.name)
            except NotFoundError:
                return ApplyResult(self.create(obj), "created")
            annotations = {**kubernetes_owned(current.metadata.annotations), **obj.metadata.annotations}
            meta = current.metadata.model_copy(
                update={"labels": obj.metadata.labels, "annotations": annotations}
            )
            if meta == current.metadata and obj.spec == current.spec:
                return ApplyResult(current, "unchanged")
            try:
                return ApplyResult(
                    self.update(current.model_copy(update={"metadata": meta, "spec": obj.spec})), "configured"
                )
            except ConflictError:
                continue
        raise ConflictError(f"{obj.key} kept changing while being applied; try again")

    def set_suspend(self, namespace: str, name: str, *, suspend: bool, attempts: int = 5) -> AnyResource:
        """Suspend (preempt, when running) or resume a job; retries on conflicts with the controllers."""
        for _ in range(attempts):
            job = self.get("ParkJob", namespace, name)
            if getattr(job.spec, "suspend", None) == suspend:
                return job
            try:
                return self.update(
                    job.model_copy(update={"spec": job.spec.model_copy(update={"suspend": suspend})})
                )
            except ConflictError:
                continue
        raise ConflictError(f"ParkJob {namespace}/{name} kept changing; try again")

    def upload(self, namespace: str, package: Package, *, timeout: float = 600.0) -> Upload:
        """Store `package` in the namespace unless it is there already (the same digest: the same bytes)."""
        path = f"/v1/namespaces/{namespace}/packages/{package.sha256}"
        try:
            return Upload(uri=str(self._request("GET", path).json()["uri"]), sent=False)
        except NotFoundError:
            pass
        headers = {"Content-Type": "application/zip"}
        body = self._request("PUT", path, content=package.data, headers=headers, timeout=timeout).json()
        return Upload(uri=str(body["uri"]), sent=True)

    def pending(self, queue: str) -> list[dict[str, Any]]:
        """Jobs waiting in `queue`, in order, with the scheduler's reason."""
        items: list[dict[str, Any]] = self._request("GET", f"/v1/queues/{queue}/pending").json()["items"]
        return items

    # ------------------------------------------------------------ federation

    def federation(self) -> dict[str, Any]:
        """The gateway's peer ID, addresses, online nodes and work counts."""
        info: dict[str, Any] = self._request("GET", "/v1/federation").json()
        return info

    def invite(
        self, name: str, *, peer_id: str, capabilities: dict[str, Any], ttl_seconds: float
    ) -> dict[str, Any]:
        """Register a FederatedNode and get its join token: {"token", "node"}."""
        body = {"name": name, "peerId": peer_id, "capabilities": capabilities, "ttlSeconds": ttl_seconds}
        reply: dict[str, Any] = self._request("POST", "/v1/federation/invites", json=body).json()
        return reply

    def revoke_node(self, name: str) -> AnyResource:
        return parse_resource(self._request("POST", f"/v1/federation/nodes/{name}/revoke").json())

    def submit_work(self, app: str, payload: dict[str, Any], *, max_attempts: int = 3) -> dict[str, Any]:
        body = {"app": app, "payload": payload, "maxAttempts": max_attempts}
        unit: dict[str, Any] = self._request("POST", "/v1/federation/work", json=body).json()
        return unit

    def submit_task(self, app: str, payload: dict[str, Any]) -> dict[str, Any]:
        task: dict[str, Any] = self._request(
            "POST", "/v1/federation/tasks", json={"app": app, "payload": payload}
        ).json()
        return task

    def task(self, task_id: str) -> dict[str, Any]:
        task: dict[str, Any] = self._request("GET", f"/v1/federation/tasks/{task_id}").json()
        return task

    def tasks(self, *, state: str | None = None) -> list[dict[str, Any]]:
        params = {"state": state} if state else {}
        items: list[dict[str, Any]] = self._request("GET", "/v1/federation/tasks", params=params).json()[
            "items"
        ]
        return items

    def node_ledger(self, name: str) -> dict[str, Any]:
        ledger: dict[str, Any] = self._request("GET", f"/v1/federation/nodes/{name}/ledger").json()
        return ledger

    def work(self, work_id: str) -> dict[str, Any]:
        unit: dict[str, Any] = self._request("GET", f"/v1/federation/work/{work_id}").json()
        return unit

    def works(self, *, state: str | None = None) -> list[dict[str, Any]]:
        params = {"state": state} if state else {}
        items: list[dict[str, Any]] = self._request("GET", "/v1/federation/work", params=params).json()[
            "items"
        ]
        return items

    def logs(self, namespace: str, name: str) -> str:
        return self._request("GET", f"/v1/namespaces/{namespace}/jobs/{name}/logs").text

    def follow_logs(self, namespace: str, name: str) -> Iterator[str]:
        path = f"/v1/namespaces/{namespace}/jobs/{name}/logs"
        yield from self._stream(path, params={"follow": "true"}, lines=False)

    def watch(
        self,
        *,
        resource_version: int | None = None,
        kinds: str | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield `{"type", "object"}` for each change; runs until the server closes the stream.

        `on_open` is called once the server has accepted the watch, before any change arrives: a
        quiet stream yields nothing for a long time, and a caller may want to know it is connected.
        """
        params: dict[str, Any] = {}
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        if kinds:
            params["kinds"] = kinds
        for line in self._stream("/v1/watch", params=params, lines=True, on_open=on_open):
            if line.startswith("data: "):
                yield json.loads(line[6:])

    def _stream(
        self, path: str, *, params: dict[str, Any], lines: bool, on_open: Callable[[], None] | None = None
    ) -> Iterator[str]:
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(30.0, read=None)
            ) as response:
                if not response.is_success:
                    response.read()
                    _raise_for(response)
                with self._streams_lock:
                    self._streams.add(response)
                if on_open is not None:
                    on_open()
                try:
                    yield from (response.iter_lines() if lines else response.iter_text())
                finally:
                    with self._streams_lock:
                        self._streams.discard(response)
        except httpx.TransportError as exc:
            raise ApiUnavailableError(f"lost the Park API at {self.server} ({exc})") from exc


def _interrupt(response: httpx.Response) -> None:
    """Shut the stream's socket down: closing it alone does not wake a thread blocked in recv()."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def connect(settings: Settings, *, on_warning: Callable[[str], None] = _log_warning) -> ParkClient:
    """A client for the server named by settings, else the one `park up` recorded in its state dir."""
    server, token = settings.server, settings.token
    if server is None and settings.server_file.exists():
        server = json.loads(settings.server_file.read_text())["url"]
    if token is None and settings.token_file.exists():
        token = settings.token_file.read_text().strip()
    if server is None:
        raise ApiUnavailableError(
            f"no Park server found in {settings.state_dir}: run `park up`, or set PARK_SERVER and PARK_TOKEN"
        )
    return ParkClient(server, token, on_warning=on_warning)
