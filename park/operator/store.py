"""The `Store` interface on a real Kubernetes API server: Park resources as custom resources.

The semantics the SQLite store imitates are the API server's own, so this is mostly translation:
objects ↔ custom-object dicts, `ApiException` status codes ↔ Park's errors, the status subresource for
`update_status`, and core/v1 Events (deduplicated by object, reason and message, counted like kubectl's)
for `record_event`. Watches run the client's blocking watch in a thread per kind and hand events to the
asyncio side; an expired resourceVersion (410) surfaces as `GoneError`, exactly as in embedded mode.
An object Park's model refuses (applied before its CRD had the rule) hides only itself, as in the
embedded store: lists report it, watches skip it (`park.control.store.decoding`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from park.control.store.decoding import InvalidLog, invalid_object, reference, split, unreadable
from park.control.store.interface import (
    EventType,
    InvalidObject,
    ListResult,
    ObjectEvent,
    WatchEvent,
    WatchEventType,
)
from park.control.store.selectors import LabelSelector
from park.core.errors import (
    AlreadyExistsError,
    ConflictError,
    GoneError,
    InvalidError,
    NotFoundError,
    ParkError,
    SubstrateUnavailableError,
)
from park.core.kinds import KINDS, KindInfo, kind_info
from park.core.loading import parse_resource
from park.core.meta import API_GROUP, API_VERSION
from park.core.resources import AnyResource
from park.operator.crds import VERSION, plural

_META_FIELDS = (
    "name",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "finalizers",
)
EVENT_NAMESPACE_FOR_CLUSTER_OBJECTS = "default"
COMPONENT = "park-operator"
WATCH_TIMEOUT_S = 300


class KubernetesStore:
    """A `Store` backed by the API server's custom resources (`park.dev/v1alpha1`)."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._objects = k8s.CustomObjectsApi(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self._invalid_log = InvalidLog()
        self._event_counts = EventCounts()

    # reads

    def get(self, kind: str, namespace: str | None, name: str) -> AnyResource:
        found = self._read(kind, namespace, name)
        if isinstance(found, InvalidObject):
            self._invalid_log.report(found)
            raise unreadable(found)
        return found

    def _read(self, kind: str, namespace: str | None, name: str) -> AnyResource | InvalidObject:
        info = kind_info(kind)
        with _errors(f"{info.kind} {name}"):
            if info.namespaced:
                body = self._objects.get_namespaced_custom_object(
                    API_GROUP, VERSION, namespace or "default", plural(info), name
                )
            else:
                body = self._objects.get_cluster_custom_object(API_GROUP, VERSION, plural(info), name)
        return decode(info.kind, _body(body))

    def list(
        self, kind: str, *, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> ListResult:
        info = kind_info(kind)
        with _errors(f"{info.plural}"):
            if info.namespaced and namespace is not None:
                body = self._objects.list_namespaced_custom_object(
                    API_GROUP, VERSION, namespace, plural(info)
                )
            else:
                body = self._objects.list_cluster_custom_object(API_GROUP, VERSION, plural(info))
        listed = _body(body)
        items, invalid = split(decode(info.kind, item) for item in listed.get("items", []))
        for problem in invalid:
            self._invalid_log.report(problem)
        if selector is not None:
            items = [obj for obj in items if selector.matches(obj.metadata.labels)]
        version = int(listed["metadata"]["resourceVersion"])
        return ListResult(items=items, resource_version=version, invalid=invalid)

    def current_resource_version(self) -> int:
        info = KINDS["ParkQueue"]
        with _errors("the current resourceVersion"):
            body = self._objects.list_cluster_custom_object(API_GROUP, VERSION, plural(info), limit=1)
        return int(_body(body)["metadata"]["resourceVersion"])

    # writes

    def create(self, obj: AnyResource) -> AnyResource:
        info = kind_info(obj.kind)
        body = to_kubernetes(obj, with_status=False)
        body["metadata"].pop("resourceVersion", None)
        with _errors(str(obj.key)):
            if info.namespaced:
                created = self._objects.create_namespaced_custom_object(
                    API_GROUP, VERSION, obj.metadata.namespace or "default", plural(info), body
                )
            else:
                created = self._objects.create_cluster_custom_object(API_GROUP, VERSION, plural(info), body)
        return to_park(_body(created))

    def update(self, obj: AnyResource) -> AnyResource:
        return self._replace(obj, status=False)

    def update_status(self, obj: AnyResource) -> AnyResource:
        return self._replace(obj, status=True)

    def delete(
        self, kind: str, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> AnyResource | InvalidObject:
        info = kind_info(kind)
        before = self._read(info.kind, namespace, name)
        options = k8s.V1DeleteOptions(
            preconditions=k8s.V1Preconditions(resource_version=resource_version) if resource_version else None
        )
        with _errors(str(before.key)):
            if info.namespaced:
                self._objects.delete_namespaced_custom_object(
                    API_GROUP, VERSION, namespace or "default", plural(info), name, body=options
                )
            else:
                self._objects.delete_cluster_custom_object(
                    API_GROUP, VERSION, plural(info), name, body=options
                )
        try:
            return self._read(info.kind, namespace, name)  # still there: finalizers remain
        except NotFoundError:
            return before

    def _replace(self, obj: AnyResource, *, status: bool) -> AnyResource:
        info = kind_info(obj.kind)
        body = to_kubernetes(obj, with_status=status)
        namespace = obj.metadata.namespace or "default"
        with _errors(str(obj.key)):
            if info.namespaced and status:
                done = self._objects.replace_namespaced_custom_object_status(
                    API_GROUP, VERSION, namespace, plural(info), obj.metadata.name, body
                )
            elif info.namespaced:
                done = self._objects.replace_namespaced_custom_object(
                    API_GROUP, VERSION, namespace, plural(info), obj.metadata.name, body
                )
            elif status:
                done = self._objects.replace_cluster_custom_object_status(
                    API_GROUP, VERSION, plural(info), obj.metadata.name, body
                )
            else:
                done = self._objects.replace_cluster_custom_object(
                    API_GROUP, VERSION, plural(info), obj.metadata.name, body
                )
        return to_park(_body(done))

    # changes

    def changes_since(
        self, resource_version: int, *, kinds: frozenset[str] | None = None, limit: int = 1000
    ) -> builtins.list[WatchEvent]:
        """What the API server's watch cache replays after `resource_version` (GoneError when expired)."""
        found: list[WatchEvent] = []
        for info in _kinds(kinds):
            for event in self._stream(info, resource_version, timeout_s=1):
                found.append(event)
                if len(found) >= limit:
                    break
        return sorted(found, key=lambda e: e.resource_version)[:limit]

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        stop = threading.Event()

        def follow(info: KindInfo) -> None:
            since = self.current_resource_version()
            while not stop.is_set():
                try:
                    for event in self._stream(info, since, timeout_s=5):
                        since = event.resource_version
                        callback(event.resource_version)
                except GoneError:
                    since = self.current_resource_version()
                except Exception:  # a subscriber thread must outlive any API hiccup
                    stop.wait(1.0)

        for info in KINDS.values():
            threading.Thread(
                target=follow, args=(info,), daemon=True, name=f"park-watch-{info.plural}"
            ).start()
        return stop.set

    async def watch(self, *, since: int, kinds: frozenset[str] | None = None) -> AsyncIterator[WatchEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[WatchEvent | BaseException] = asyncio.Queue()
        stop = threading.Event()

        def hand_over(item: WatchEvent | BaseException) -> bool:
            """False once the consumer is gone (its loop closed): the thread then ends quietly."""
            if stop.is_set():
                return False
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:
                return False
            return True

        def follow(info: KindInfo) -> None:
            position = since
            try:
                while not stop.is_set():
                    try:
                        for event in self._stream(info, position, timeout_s=WATCH_TIMEOUT_S):
                            position = event.resource_version
                            if not hand_over(event):
                                return
                    except SubstrateUnavailableError:
                        stop.wait(1.0)  # the API server went away for a moment: watch again from here
            except BaseException as exc:  # GoneError and the unexpected: the consumer re-raises them
                hand_over(exc)

        threads = [
            threading.Thread(target=follow, args=(info,), daemon=True, name=f"park-watch-{info.plural}")
            for info in _kinds(kinds)
        ]
        for thread in threads:
            thread.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    def _stream(self, info: KindInfo, since: int, *, timeout_s: int) -> Iterator[WatchEvent]:
        watcher = k8s_watch.Watch()  # type: ignore[no-untyped-call]
        function = self._objects.list_cluster_custom_object
        try:
            for raw in watcher.stream(  # type: ignore[no-untyped-call]
                function,
                API_GROUP,
                VERSION,
                plural(info),
                resource_version=str(since),
                timeout_seconds=timeout_s,
                _request_timeout=timeout_s + 5,
            ):
                kind: str = raw["type"]
                if kind == "ERROR":
                    status = raw["raw_object"]
                    if status.get("code") == 410:
                        raise GoneError(f"resourceVersion {since} is too old: list again")
                    raise SubstrateUnavailableError(f"watch of {info.plural} failed: {status.get('message')}")
                if kind not in ("ADDED", "MODIFIED", "DELETED"):
                    continue  # BOOKMARK
                obj = decode(info.kind, raw["raw_object"])
                if isinstance(obj, InvalidObject):
                    self._invalid_log.report(obj)  # a watcher never sees it; a list names it
                    continue
                rv = int(obj.metadata.resource_version or since)
                watch_type: WatchEventType = kind  # type: ignore[assignment]
                yield WatchEvent(type=watch_type, resource_version=rv, object=obj)
        except ApiException as exc:
            if exc.status == 410:
                raise GoneError(f"resourceVersion {since} is too old: list again") from None
            raise _translate(exc, info.plural) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise SubstrateUnavailableError(f"watch of {info.plural} broke: {type(exc).__name__}") from exc
        finally:
            watcher.stop()  # type: ignore[no-untyped-call]

    # events

    def record_event(
        self, obj: AnyResource | InvalidObject, *, type: EventType, reason: str, message: str
    ) -> None:
        kind, object_namespace, object_name, uid = reference(obj)
        namespace = object_namespace or EVENT_NAMESPACE_FOR_CLUSTER_OBJECTS
        digest = hashlib.sha256(f"{uid}\0{reason}\0{message}".encode()).hexdigest()[:12]
        name = f"{object_name}.{digest}"
        now = datetime.now(UTC)
        count = self._event_counts.get(f"{namespace}/{name}")
        if count is None:
            event = k8s.CoreV1Event(
                metadata=k8s.V1ObjectMeta(name=name, namespace=namespace),
                involved_object=k8s.V1ObjectReference(
                    api_version=API_VERSION, kind=kind, name=object_name, namespace=object_namespace, uid=uid
                ),
                type=type,
                reason=reason,
                message=message,
                count=1,
                first_timestamp=now,
                last_timestamp=now,
                source=k8s.V1EventSource(component=COMPONENT),
                reporting_component=COMPONENT,
            )
            try:
                self._core.create_namespaced_event(namespace, event)
                self._event_counts.put(f"{namespace}/{name}", 1)
                return
            except ApiException as exc:
                if exc.status != 409:
                    return  # an event is worth a try, never a failed reconcile
            try:  # made before this process started (or by another replica): read its count once
                count = self._core.read_namespaced_event(name, namespace).count or 1
            except ApiException:
                return
        patch = {"count": count + 1, "lastTimestamp": now.isoformat()}
        try:
            self._core.patch_namespaced_event(name, namespace, patch)
            self._event_counts.put(f"{namespace}/{name}", count + 1)
        except ApiException:
            self._event_counts.forget(
                f"{namespace}/{name}"
            )  # expired (events live an hour): made anew next time

    def list_events(
        self, *, kind: str | None = None, namespace: str | None = None, name: str | None = None
    ) -> builtins.list[ObjectEvent]:
        selectors = []
        if kind is not None:
            selectors.append(f"involvedObject.kind={kind_info(kind).kind}")
        if name is not None:
            selectors.append(f"involvedObject.name={name}")
        field_selector = ",".join(selectors) or None
        with _errors("events"):
            if namespace is not None:
                body = self._core.list_namespaced_event(namespace, field_selector=field_selector)
            else:
                body = self._core.list_event_for_all_namespaces(field_selector=field_selector)
        events = [_object_event(item) for item in body.items if item.involved_object.kind in KINDS]
        return sorted(events, key=lambda e: e.last_time)

    def close(self) -> None:
        pass


class EventCounts:
    """How often this process recorded each event, so a repeat is one PATCH of its count (not a GET and
    a PATCH); bounded, oldest forgotten first (a forgotten one costs one GET when it recurs)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: str) -> int | None:
        with self._lock:
            return self._counts.get(key)

    def put(self, key: str, count: int) -> None:
        with self._lock:
            self._counts[key] = count
            self._counts.move_to_end(key)
            while len(self._counts) > self._limit:
                self._counts.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


def to_park(body: dict[str, Any]) -> AnyResource:
    """A custom object from the API server → the Park model (server-only metadata dropped)."""
    metadata = {key: value for key, value in body.get("metadata", {}).items() if key in _META_FIELDS}
    data = {**body, "metadata": metadata}
    return parse_resource(data, default_namespace=metadata.get("namespace") or "default")


def decode(kind: str, body: dict[str, Any]) -> AnyResource | InvalidObject:
    """`to_park`, or what can be said of a custom object Park's model refuses."""
    try:
        return to_park(body)
    except InvalidError as exc:
        return invalid_object(kind, body, exc.message)


def to_kubernetes(obj: AnyResource, *, with_status: bool) -> dict[str, Any]:
    body = obj.to_dict()
    if not with_status:
        body.pop("status", None)
    if not KINDS[obj.kind].namespaced:
        body["metadata"].pop("namespace", None)
    return body


def _body(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SubstrateUnavailableError(
            f"the Kubernetes API server answered {type(value).__name__}, not an object"
        )
    return value


def _kinds(kinds: frozenset[str] | None) -> list[KindInfo]:
    return [info for name, info in KINDS.items() if kinds is None or name in kinds]


def _object_event(item: k8s.CoreV1Event) -> ObjectEvent:
    first = item.first_timestamp or item.event_time or item.metadata.creation_timestamp or datetime.now(UTC)
    last = item.last_timestamp or first
    return ObjectEvent(
        kind=item.involved_object.kind or "",
        namespace=item.involved_object.namespace,
        name=item.involved_object.name or "",
        uid=item.involved_object.uid or "",
        type="Warning" if item.type == "Warning" else "Normal",
        reason=item.reason or "",
        message=item.message or "",
        count=item.count or 1,
        first_time=first,
        last_time=last,
    )


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    try:
        yield
    except ApiException as exc:
        raise _translate(exc, what) from None


def _translate(exc: ApiException, what: str) -> ParkError:
    """The API server's Status → Park's error with the server's own one-line message."""
    message = _status_message(exc) or f"HTTP {exc.status}"
    match exc.status:
        case 404:
            return NotFoundError(f"{what} not found")
        case 409 if "already exists" in message:
            return AlreadyExistsError(message)
        case 409:
            return ConflictError(message)
        case 410:
            return GoneError(message)
        case 400 | 422:
            return InvalidError(message)
        case _:
            return SubstrateUnavailableError(f"the Kubernetes API server could not serve {what}: {message}")


def _status_message(exc: ApiException) -> str:
    import json  # noqa: PLC0415

    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return str(exc.reason or "")
    return str(body.get("message") or exc.reason or "")
