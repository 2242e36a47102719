"""The KubeRay objects Park owns, read and written through the custom-objects API.

Writes are merge patches of exactly what Park decides (so KubeRay's own fields survive), and creation
is idempotent: a replica that loses a create race reads what the winner made.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from park.core.resources import AnyResource
from park.substrates.kuberay_specs import SPEC_HASH, child_object, spec_hash

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

    def list(self, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        """The objects of `kind` in `namespace` carrying every one of `labels`."""
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        body = self._api.list_namespaced_custom_object(
            RAY_GROUP, RAY_VERSION, namespace, PLURALS[kind], label_selector=selector
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


Change = Literal["created", "updated", ""]


def ensure_child(
    objects: ChildObjects, kind: str, owner: AnyResource, spec: dict[str, Any]
) -> tuple[dict[str, Any] | None, Change]:
    """Create the owner's child (same name), or rewrite its spec when Park's desired spec changed (the
    `park.dev/spec-hash` annotation says what it was written from). Returns the child and what was done;
    None when a child of that name is not this owner's (someone else's, or an older owner's being deleted).
    A patch carries the resourceVersion it was computed from, so a stale one fails with 409."""
    namespace = owner.metadata.namespace or "default"
    child = objects.get(kind, namespace, owner.metadata.name)
    change: Change = ""
    if child is None:
        child, created = objects.create(child_object(kind, owner, spec))
        change = "created" if created else ""
    if not is_owned_by(child, owner):
        return None, ""
    if (child["metadata"].get("annotations") or {}).get(SPEC_HASH) != spec_hash(spec):
        patch = {
            "metadata": {
                "resourceVersion": child["metadata"]["resourceVersion"],
                "annotations": {SPEC_HASH: spec_hash(spec)},
            },
            "spec": spec,
        }
        child, change = objects.patch(kind, namespace, owner.metadata.name, patch), "updated"
    return child, change


def is_owned_by(child: dict[str, Any], owner: AnyResource) -> bool:
    refs = child.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner.metadata.uid for ref in refs)


def left_by_a_namesake(child: dict[str, Any], owner: AnyResource) -> bool:
    """A child that is not this owner's but an earlier owner's of the same kind and name (deleted and made
    again): the garbage collector removes it soon. Any other is someone else's, in the way."""
    refs = child.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("kind") == owner.kind and ref.get("name") == owner.metadata.name for ref in refs)


def in_the_way(kind: str, owner: AnyResource) -> str:
    return (
        f"a {kind} named {owner.metadata.name} that Park did not make is in the way: "
        f"delete it or rename the {owner.kind}"
    )


def as_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"the API server answered {type(value).__name__}, not an object")
    return value


def split_key(key: str) -> tuple[str, str]:
    """A substrate key is `<namespace>.<name>` (namespaces hold no dots)."""
    namespace, _, name = key.partition(".")
    return namespace, name


def api_message(exc: ApiException) -> str:
    """The API server's one-line reason for refusing a write (its Status `message`)."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)
