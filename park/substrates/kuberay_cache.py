"""The KubeRay objects Park manages (RayJobs, RayClusters, RayServices), kept in memory by one watch each.

The operator looks at a running job's RayJob on every poll and at a cluster's or service's child on every
reconcile; as GETs that was most of what an idle operator did. Like an informer, this lists each kind
once (only objects labelled `app.kubernetes.io/managed-by: park`), follows its watch, lists again after
410 Gone or a broken connection, and tells listeners which object changed, so the owner is reconciled on
KubeRay's status changes instead of being polled for them. `CachedKubeRayObjects` answers the
reconcilers' reads from it and remembers their own writes at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from park.substrates.kuberay_objects import PLURALS, RAY_GROUP, RAY_VERSION, KubeRayObjects, as_dict
from park.substrates.kuberay_specs import MANAGED_BY, MANAGER

logger = logging.getLogger(__name__)
Key = tuple[str, str, str]  # kind, namespace, name
Listener = Callable[[str, dict[str, Any]], None]
"""Called from a watch thread with the kind and the object that changed (or was deleted)."""
WATCH_TIMEOUT_S = 300
SELECTOR = f"{MANAGED_BY}={MANAGER}"


def _version(body: dict[str, Any]) -> int:
    try:
        return int(body.get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def key_of(body: dict[str, Any]) -> Key:
    meta = body.get("metadata", {})
    return str(body.get("kind")), str(meta.get("namespace")), str(meta.get("name"))


class KubeRayCache:
    def __init__(self, api_client: k8s.ApiClient, kinds: tuple[str, ...] = tuple(PLURALS)) -> None:
        self._api = k8s.CustomObjectsApi(api_client)
        self.kinds = kinds
        self._objects: dict[Key, dict[str, Any]] = {}
        self._deleted: dict[Key, int] = {}
        self._synced = {kind: threading.Event() for kind in kinds}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> Callable[[], None]:
        """One daemon thread per kind; returns the function that stops them."""
        for kind in self.kinds:
            threading.Thread(
                target=self._follow, args=(kind,), daemon=True, name=f"park-watch-{kind}"
            ).start()
        return self._stop.set

    def synced(self, kind: str) -> bool:
        return kind in self._synced and self._synced[kind].is_set()

    # reads

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._objects.get((kind, namespace, name))

    def list(self, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            return [
                body
                for (k, ns, _), body in self._objects.items()
                if k == kind
                and ns == namespace
                and all((body["metadata"].get("labels") or {}).get(a) == b for a, b in labels.items())
            ]

    # what this process wrote

    def remember(self, body: dict[str, Any]) -> None:
        key = key_of(body)
        if key[0] not in self._synced:
            return
        with self._lock:
            self._put(key, body)

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self._objects.pop((kind, namespace, name), None)

    # the watch

    def _follow(self, kind: str) -> None:
        since = ""
        while not self._stop.is_set():
            try:
                if not since:
                    since = self._list(kind)
                since = self._watch(kind, since)
            except ApiException as exc:
                if exc.status != 410:
                    logger.warning("the %s watch failed (%s); listing again in 1s", kind, exc.reason)
                    self._stop.wait(1.0)
                since = ""
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                logger.warning("the %s watch broke (%s); listing again in 1s", kind, type(exc).__name__)
                self._stop.wait(1.0)
                since = ""

    def _list(self, kind: str) -> str:
        listed = as_dict(
            self._api.list_cluster_custom_object(
                RAY_GROUP, RAY_VERSION, PLURALS[kind], label_selector=SELECTOR
            )
        )
        items = [dict(item, kind=kind) for item in listed.get("items") or []]
        with self._lock:
            gone = [key for key in self._objects if key[0] == kind]
            for key in gone:
                del self._objects[key]
            self._deleted = {key: rv for key, rv in self._deleted.items() if key[0] != kind}
            for body in items:
                self._objects[key_of(body)] = body
        self._synced[kind].set()
        for body in items:
            self._tell(kind, body)
        return str(listed["metadata"]["resourceVersion"])

    def _watch(self, kind: str, since: str) -> str:
        """Follow the watch from `since`; returns where it ended ("" to list again after 410 Gone)."""
        watcher = k8s_watch.Watch()  # type: ignore[no-untyped-call]
        try:
            for raw in watcher.stream(  # type: ignore[no-untyped-call]
                self._api.list_cluster_custom_object,
                RAY_GROUP,
                RAY_VERSION,
                PLURALS[kind],
                label_selector=SELECTOR,
                resource_version=since,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_TIMEOUT_S,
                _request_timeout=WATCH_TIMEOUT_S + 5,
            ):
                if self._stop.is_set():
                    return since
                body = raw["raw_object"]
                if raw["type"] == "ERROR":
                    return ""  # 410 Gone (or another failure): list again
                since = str(body.get("metadata", {}).get("resourceVersion") or since)
                if raw["type"] == "BOOKMARK":
                    continue
                body = dict(body, kind=kind)
                key = key_of(body)
                with self._lock:
                    if raw["type"] == "DELETED":
                        self._objects.pop(key, None)
                        self._deleted[key] = max(_version(body), self._deleted.get(key, 0))
                    else:
                        self._put(key, body)
                self._tell(kind, body)
        finally:
            watcher.stop()  # type: ignore[no-untyped-call]
        return since

    def _put(self, key: Key, body: dict[str, Any]) -> None:
        if _version(body) <= self._deleted.get(key, 0):
            return  # from before the object's deletion
        current = self._objects.get(key)
        if current is None or _version(body) > _version(current):
            self._objects[key] = body

    def _tell(self, kind: str, body: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(kind, body)
            except Exception:  # a listener must not end the watch
                logger.exception("a listener of %s changes failed", kind)


class CachedKubeRayObjects(KubeRayObjects):
    """`KubeRayObjects` whose reads come from the cache once it has listed that kind."""

    def __init__(self, api_client: k8s.ApiClient, cache: KubeRayCache) -> None:
        super().__init__(api_client)
        self._cache = cache

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if self._cache.synced(kind):
            return self._cache.get(kind, namespace, name)
        return super().get(kind, namespace, name)

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        made, created = super().create(body)
        self._cache.remember(dict(made, kind=body["kind"]))
        return made, created

    def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        done = super().patch(kind, namespace, name, patch)
        self._cache.remember(dict(done, kind=kind))
        return done

    def list(self, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        if self._cache.synced(kind) and labels.get(MANAGED_BY, MANAGER) == MANAGER:
            return self._cache.list(kind, namespace, labels)
        return super().list(kind, namespace, labels)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        super().delete(kind, namespace, name)
        self._cache.forget(kind, namespace, name)
