"""The API server's write rules as pure functions: (stored object, given object, now) -> new object.

Kept apart from SQL so the rules read in one place. The embedded store enforces them itself; in
operator mode the Kubernetes API server enforces the same rules, which is what keeps the two stores
interchangeable. Objects go in and out as the JSON-shaped dicts the store keeps (`to_dict()`), and
every result is re-validated, so nothing invalid is ever written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from pydantic import ValidationError

from park.core.errors import ConflictError, InvalidError
from park.core.kinds import KindInfo
from park.core.loading import format_validation_error
from park.core.resources import AnyResource, ResourceKey

Body = dict[str, Any]


def describe(kind: str, namespace: str | None, name: str) -> str:
    """How messages name an object: `ParkJob default/hello`, or `ParkQueue gpu` when cluster-scoped."""
    return str(ResourceKey(kind, namespace or None, name))


def lookup_namespace(info: KindInfo, namespace: str | None, name: str) -> str:
    """The namespace column for a lookup. Cluster-scoped kinds ignore a namespace, as kubectl does."""
    if not info.namespaced:
        return ""
    if not namespace:
        raise InvalidError(f"{info.kind} {name}: give a namespace; {info.kind} is namespaced")
    return namespace


def check_scope(info: KindInfo, obj: AnyResource) -> str:
    """The namespace column for a new object; the object must agree with its kind's scope."""
    namespace, name = obj.metadata.namespace, obj.metadata.name
    if info.namespaced and not namespace:
        raise InvalidError(f"{info.kind} {name}: metadata.namespace is required; {info.kind} is namespaced")
    if not info.namespaced and namespace:
        raise InvalidError(f"{info.kind} {name}: remove metadata.namespace; {info.kind} is cluster-scoped")
    return namespace or ""


def check_version(what: str, stored: int, sent: str | None) -> None:
    """Optimistic concurrency: a writer that read an older version must read again."""
    if sent is not None and sent != str(stored):
        raise ConflictError(
            f"{what} has been modified (resourceVersion {stored}, you sent {sent}); get it again and retry"
        )


def created(info: KindInfo, given: AnyResource, *, now: datetime) -> AnyResource:
    """A new object: fresh identity and generation 1; status starts empty because controllers own it."""
    data = given.to_dict()
    metadata = data["metadata"]
    for server_owned in ("resourceVersion", "deletionTimestamp"):
        metadata.pop(server_owned, None)
    metadata.update(uid=str(uuid4()), creationTimestamp=now, generation=1)
    data.pop("status", None)
    return validated(info, data)


def updated(info: KindInfo, stored: Body, given: AnyResource) -> AnyResource | None:
    """Stored object with the given labels, annotations, finalizers and spec; None when nothing changed."""
    sent = given.to_dict()
    metadata = dict(stored["metadata"])
    for field in ("labels", "annotations", "finalizers"):
        metadata[field] = sent["metadata"].get(field, {} if field != "finalizers" else [])
    if "deletionTimestamp" in metadata:
        _check_no_new_finalizers(info, stored, metadata["finalizers"])
    result = validated(info, {**stored, "metadata": metadata, "spec": sent["spec"]})
    after = result.to_dict()
    if after == stored:
        return None
    if after["spec"] != stored["spec"]:
        result.metadata.generation = (result.metadata.generation or 0) + 1
    return result


def status_updated(info: KindInfo, stored: Body, given: AnyResource) -> AnyResource | None:
    """Stored object with the given status; None when nothing changed."""
    result = validated(info, {**stored, "status": given.to_dict()["status"]})
    return None if result.to_dict() == stored else result


def marked_for_deletion(info: KindInfo, stored: Body, *, now: datetime) -> AnyResource:
    """Deletion with finalizers left: only the timestamp is set, so finalizer owners can clean up.

    Generation moves too, as in Kubernetes, so controllers that compare observedGeneration notice.
    """
    metadata = {**stored["metadata"], "deletionTimestamp": now}
    metadata["generation"] = int(metadata.get("generation") or 0) + 1
    return validated(info, {**stored, "metadata": metadata})


def validated(info: KindInfo, data: Body) -> AnyResource:
    """Validate a would-be object; a bad value (set on a model after it was built) is the caller's error."""
    try:
        return info.parse(data)
    except ValidationError as exc:
        what = describe(info.kind, data["metadata"].get("namespace"), data["metadata"].get("name", "?"))
        raise InvalidError(f"{what}: {format_validation_error(exc)}") from exc


def is_finished(obj: AnyResource) -> bool:
    """Marked for deletion and no finalizer left: the object goes away now."""
    return obj.metadata.deletion_timestamp is not None and not obj.metadata.finalizers


def _check_no_new_finalizers(info: KindInfo, stored: Body, finalizers: list[str]) -> None:
    added = sorted(set(finalizers) - set(stored["metadata"].get("finalizers", [])))
    if added:
        what = describe(info.kind, stored["metadata"].get("namespace"), stored["metadata"]["name"])
        raise InvalidError(f"{what} is being deleted: finalizers can only be removed, not added ({added[0]})")
