"""CRUD for every kind: `/v1/namespaces/{ns}/{plural}[/{name}]` and cluster-scoped `/v1/{plural}[/{name}]`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response

from park.api.deps import ContextDep, require_token
from park.control.store import parse_selector
from park.control.store.interface import InvalidObject
from park.core.errors import InvalidError, warning_header
from park.core.kinds import KINDS, KindInfo, by_plural
from park.core.loading import parse_resource
from park.core.meta import API_VERSION
from park.core.packages import local_entries
from park.core.resources import AnyResource, ParkJob

JsonBody = Annotated[dict[str, Any], Body()]

router = APIRouter(prefix="/v1", tags=["resources"], dependencies=[Depends(require_token)])

NAMESPACED = "|".join(info.plural for info in KINDS.values() if info.namespaced)
CLUSTER_SCOPED = "|".join(info.plural for info in KINDS.values() if not info.namespaced)


def _kind(plural: str, *, namespaced: bool) -> KindInfo:
    info = by_plural(plural)
    if info.namespaced != namespaced:
        scope = "namespaced" if info.namespaced else "cluster-scoped"
        raise InvalidError(f"{info.kind} is {scope}")
    return info


def _parse_body(info: KindInfo, body: dict[str, Any], namespace: str | None, name: str | None) -> AnyResource:
    obj = parse_resource(body, default_namespace=namespace or "default")
    if obj.kind != info.kind:
        raise InvalidError(f"kind: this endpoint takes {info.kind}, got {obj.kind}")
    if namespace is not None and obj.metadata.namespace != namespace:
        raise InvalidError(
            f"metadata.namespace: {obj.metadata.namespace!r} does not match the URL's {namespace!r}"
        )
    if name is not None and obj.metadata.name != name:
        raise InvalidError(f"metadata.name: {obj.metadata.name!r} does not match the URL's {name!r}")
    if isinstance(obj, ParkJob):
        _refuse_local_paths(obj)
    return obj


def _refuse_local_paths(job: ParkJob) -> None:
    """A path on the client's machine means nothing where the job runs (a pod, another host)."""
    local = local_entries(job.spec.runtime_env)
    if local:
        field, path = local[0]
        raise InvalidError(
            f"spec.runtimeEnv.{field}: {path!r} is a path on the client's machine; `park apply` "
            "uploads it and sends its URI instead (or give a file://, s3:// or https:// URI of a zip)"
        )


def _list(
    context: ContextDep, info: KindInfo, namespace: str | None, selector: str | None, response: Response
) -> dict[str, Any]:
    """The objects Park can read; each one it cannot is named in a Warning header instead."""
    listed = context.store.list(info.kind, namespace=namespace, selector=parse_selector(selector))
    for invalid in listed.invalid:
        response.headers.append("Warning", warning_header(f"{invalid}; it is left out (fix it or delete it)"))
    return {
        "apiVersion": API_VERSION,
        "kind": f"{info.kind}List",
        "metadata": {"resourceVersion": str(listed.resource_version)},
        "items": [obj.to_dict() for obj in listed.items],
    }


def _deleted(obj: AnyResource | InvalidObject) -> dict[str, Any]:
    """The deleted object, or for one Park could not read, a Status (as Kubernetes answers)."""
    if isinstance(obj, InvalidObject):
        details = {"kind": obj.kind, "name": obj.name, "uid": obj.uid}
        return {"apiVersion": "v1", "kind": "Status", "status": "Success", "details": details}
    return obj.to_dict()


def _events(context: ContextDep, info: KindInfo, namespace: str | None, name: str) -> dict[str, Any]:
    context.store.get(info.kind, namespace, name)
    events = context.store.list_events(kind=info.kind, namespace=namespace, name=name)
    return {
        "items": [
            {
                "type": e.type,
                "reason": e.reason,
                "message": e.message,
                "count": e.count,
                "firstTime": e.first_time.isoformat(),
                "lastTime": e.last_time.isoformat(),
            }
            for e in events
        ]
    }


@router.get("/namespaces/{namespace}/{plural}")
def list_namespaced(
    context: ContextDep,
    namespace: str,
    plural: str,
    response: Response,
    label_selector: str | None = Query(None, alias="labelSelector"),
) -> dict[str, Any]:
    return _list(context, _kind(plural, namespaced=True), namespace, label_selector, response)


@router.get("/{plural}")
def list_all(
    context: ContextDep,
    plural: str,
    response: Response,
    label_selector: str | None = Query(None, alias="labelSelector"),
) -> dict[str, Any]:
    """Cluster-scoped kinds (queues), or a namespaced kind across all namespaces."""
    return _list(context, by_plural(plural), None, label_selector, response)


@router.post("/namespaces/{namespace}/{plural}", status_code=201)
def create_namespaced(context: ContextDep, namespace: str, plural: str, body: JsonBody) -> dict[str, Any]:
    obj = _parse_body(_kind(plural, namespaced=True), body, namespace, None)
    return context.store.create(obj).to_dict()


@router.post("/{plural}", status_code=201)
def create_cluster_scoped(context: ContextDep, plural: str, body: JsonBody) -> dict[str, Any]:
    obj = _parse_body(_kind(plural, namespaced=False), body, None, None)
    return context.store.create(obj).to_dict()


@router.get("/namespaces/{namespace}/{plural}/{name}")
def get_namespaced(context: ContextDep, namespace: str, plural: str, name: str) -> dict[str, Any]:
    return context.store.get(_kind(plural, namespaced=True).kind, namespace, name).to_dict()


@router.get("/{plural}/{name}")
def get_cluster_scoped(context: ContextDep, plural: str, name: str) -> dict[str, Any]:
    return context.store.get(_kind(plural, namespaced=False).kind, None, name).to_dict()


@router.put("/namespaces/{namespace}/{plural}/{name}")
def update_namespaced(
    context: ContextDep, namespace: str, plural: str, name: str, body: JsonBody
) -> dict[str, Any]:
    obj = _parse_body(_kind(plural, namespaced=True), body, namespace, name)
    return context.store.update(obj).to_dict()


@router.put("/{plural}/{name}")
def update_cluster_scoped(context: ContextDep, plural: str, name: str, body: JsonBody) -> dict[str, Any]:
    obj = _parse_body(_kind(plural, namespaced=False), body, None, name)
    return context.store.update(obj).to_dict()


@router.delete("/namespaces/{namespace}/{plural}/{name}")
def delete_namespaced(
    context: ContextDep, namespace: str, plural: str, name: str, resource_version: str | None = None
) -> dict[str, Any]:
    info = _kind(plural, namespaced=True)
    return _deleted(context.store.delete(info.kind, namespace, name, resource_version=resource_version))


@router.delete("/{plural}/{name}")
def delete_cluster_scoped(
    context: ContextDep, plural: str, name: str, resource_version: str | None = None
) -> dict[str, Any]:
    info = _kind(plural, namespaced=False)
    return _deleted(context.store.delete(info.kind, None, name, resource_version=resource_version))


@router.get("/namespaces/{namespace}/{plural}/{name}/events")
def events_namespaced(context: ContextDep, namespace: str, plural: str, name: str) -> dict[str, Any]:
    return _events(context, _kind(plural, namespaced=True), namespace, name)


@router.get("/{plural}/{name}/events")
def events_cluster_scoped(context: ContextDep, plural: str, name: str) -> dict[str, Any]:
    return _events(context, _kind(plural, namespaced=False), None, name)
