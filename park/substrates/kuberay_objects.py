"""The KubeRay objects Park owns, read and written through the custom-objects API.

Writes are merge patches of exactly what Park decides (so KubeRay's own fields survive), and creation
is idempotent: a replica that loses a create race reads what the winner made.
"""

from __future__ import annotations

from typing import Any, Protocol

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

RAY_GROUP = "ray.io"
RAY_VERSION = "v1"
PLURALS = {"RayCluster": "rayclusters", "RayJob": "rayjobs", "RayService": "rayservices"}


class ChildObjects(Protocol):
    """What the reconcilers need of the KubeRay objects (a fake in unit tests, `KubeRayObjects` for real)."""

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]: ...

    def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]: ...

    def delete(self, kind: str, namespace: str, name: str) -> None: ...


class KubeRayObjects:
    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._api = k8s.CustomObjectsApi(api_client)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            body = self._api.get_namespaced_custom_object(
                RAY_GROUP, RAY_VERSION, namespace, PLURALS[kind], name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return as_dict(body)

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(the object, whether this call created it)."""
        kind, namespace = body["kind"], body["metadata"]["namespace"]
        try:
            created = self._api.create_namespaced_custom_object(
                RAY_GROUP, RAY_VERSION, namespace, PLURALS[kind], body
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            existing = self.get(kind, namespace, body["metadata"]["name"])
            if existing is None:
                raise
            return existing, False
        return as_dict(created), True

    def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch; with `metadata.resourceVersion` in it, a stale patch fails with 409."""
        done = self._api.patch_namespaced_custom_object(
            RAY_GROUP,
            RAY_VERSION,
            namespace,
            PLURALS[kind],
            name,
            patch,
            _content_type="application/merge-patch+json",
        )
        return as_dict(done)

    def list(self, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        body = self._api.list_namespaced_custom_object(
            RAY_GROUP, RAY_VERSION, namespace, PLURALS[kind], label_selector=label_selector
        )
        return [as_dict(item) for item in as_dict(body).get("items") or []]

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete in the background (the garbage collector removes what the object owns); gone is fine."""
        try:
            self._api.delete_namespaced_custom_object(
                RAY_GROUP, RAY_VERSION, namespace, PLURALS[kind], name, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise


def as_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"the API server answered {type(value).__name__}, not an object")
    return value
