"""Ray clusters on KubeRay: each ParkCluster runs as a RayCluster of the same name (`ray.io/v1`).

The same planner as on `park up` (park.control.reconcile.cluster) drives it through the ClusterRunner
calls, so phases, messages, events and status fields are the same code on both substrates:

- declare: create the RayCluster from the ParkCluster's head, worker groups and pods (laid over the
  operator's pod defaults, placed on the flavor the scheduler admitted it on), or patch it when that
  spec changes (the `park.dev/spec-hash` annotation: `ensure_child`). It carries an owner reference, so
  Kubernetes' garbage collector removes it with the ParkCluster. KubeRay applies a change in place
  (workers added or removed), so a change is an update, not a restart as of a local head.
- observe: the RayCluster's status as KubeRay (v1.5) writes it. `ReplicaFailure` (pods it cannot
  create) fails it with KubeRay's message; `state: ready` (every pod running and ready) with a ready
  head pod makes it ready; else it is starting, "x/y workers ready". The head Service gives the
  dashboard URL and GCS address; KubeRay's conditions are copied onto the ParkCluster as they are; the
  resources are what its pods hold, the cluster's declared total (Ray counts them from the pods' limits).
- stop: delete the RayCluster (a charged cluster that lost its admission: no pods, as no head on `park up`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from park.core.errors import SubstrateError, SubstrateUnavailableError
from park.core.meta import Condition
from park.core.resources import ParkClusterSpec, PodTemplate
from park.substrates.interface import (
    ClusterDeclaration,
    ClusterHandle,
    ClusterObservation,
    ClusterReadiness,
)
from park.substrates.kuberay_objects import (
    ChildObjects,
    KubeRayObjects,
    api_message,
    ensure_child,
    in_the_way,
    is_owned_by,
    left_by_a_namesake,
    split_key,
)
from park.substrates.kuberay_specs import (
    OWNER_KIND,
    OWNER_NAME,
    SPEC_HASH,
    admitted_cluster_spec,
    ray_cluster_spec,
    spec_hash,
)

logger = logging.getLogger(__name__)
KIND = "RayCluster"
DASHBOARD_PORT = 8265
GCS_PORT = 6379


def held_resources(spec: ParkClusterSpec) -> dict[str, float]:
    """What the cluster's pods hold, in the names Ray reports them by: the head and every worker replica."""
    total = spec.total_resources()
    amounts = {"CPU": total.cpu_cores(), "GPU": float(total.gpus()), "memory": float(total.memory_bytes())}
    amounts.update(total.custom)
    return {name: float(amount) for name, amount in amounts.items() if amount}


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for raw in status.get("conditions") or []:
        if isinstance(raw, dict) and raw.get("type") == kind:
            return raw
    return None


KUBERAY_CONDITIONS = frozenset(
    {"HeadPodReady", "RayClusterProvisioned", "ReplicaFailure", "RayClusterSuspending", "RayClusterSuspended"}
)
"""The condition types KubeRay v1.5 writes on a RayCluster (it removes `ReplicaFailure` once it can
create the pods again)."""


def kuberay_conditions(status: dict[str, Any], copied: list[Condition]) -> tuple[Condition, ...]:
    """KubeRay's conditions as they are (type, status, reason, message), so `kubectl describe` on the
    ParkCluster shows what KubeRay saw; one it copied before and no longer writes is no longer true."""
    seen = tuple(
        Condition(
            type=str(raw.get("type") or ""),
            status=raw["status"],
            reason=str(raw.get("reason") or ""),
            message=str(raw.get("message") or ""),
        )
        for raw in status.get("conditions") or []
        if isinstance(raw, dict) and raw.get("type") and raw.get("status") in ("True", "False", "Unknown")
    )
    current = {condition.type for condition in seen}
    gone = tuple(
        Condition(type=old.type, status="False", reason="NotReported", message="KubeRay no longer reports it")
        for old in copied
        if old.type in KUBERAY_CONDITIONS and old.type not in current and old.status == "True"
    )
    return seen + gone


def readiness(status: dict[str, Any]) -> tuple[ClusterReadiness, str]:
    """Ready, starting (with its progress) or failed (with KubeRay's reason), from a RayCluster's status."""
    failure = _condition(status, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        # KubeRay joins its reason and the API server's error with a newline.
        lines = str(failure.get("message") or failure.get("reason") or "pod failure").splitlines()
        return "Failed", ": ".join(line.strip() for line in lines if line.strip())
    head = _condition(status, "HeadPodReady")
    head_ready = head is None or head.get("status") == "True"
    if status.get("state") == "ready" and head_ready:
        return "Ready", "all Ray pods are ready"
    ready, desired = status.get("readyWorkerReplicas", 0), status.get("desiredWorkerReplicas", 0)
    progress = f"{ready}/{desired} workers ready"
    if not head_ready and head is not None:
        progress += f", head pod not ready ({head.get('reason') or head.get('message') or 'starting'})"
    elif status.get("state") == "suspended":
        progress += " (suspended)"
    return "Starting", progress


def cluster_handle(
    key: str, namespace: str, status: dict[str, Any], declaration: ClusterDeclaration
) -> ClusterHandle:
    """How to reach it in the cluster: KubeRay's head Service (empty until KubeRay made it)."""
    service = (status.get("head") or {}).get("serviceName")
    endpoints = status.get("endpoints") or {}
    base = f"{service}.{namespace}.svc" if service else ""
    return ClusterHandle(
        key=key,
        dashboard_url=f"http://{base}:{endpoints.get('dashboard', DASHBOARD_PORT)}" if base else "",
        gcs_address=f"{base}:{endpoints.get('gcs-server', GCS_PORT)}" if base else "",
        token="",  # Ray's token auth is off in KubeRay's pods (kuberay_specs.POD_ENV)
        pid=0,
        config=declaration.total,
    )


def _api_reason(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("reason") or "")
    except (TypeError, ValueError, AttributeError):
        return ""


class KubeRayClusters:
    """The ClusterRunner of the operator: one RayCluster per ParkCluster."""

    def __init__(
        self,
        *,
        api_client: k8s.ApiClient,
        pods: PodTemplate,
        ray_version: str,
        objects: ChildObjects | None = None,
    ) -> None:
        """`objects`: how RayClusters are read and written (the operator's answer reads a watch cache)."""
        self._objects = objects or KubeRayObjects(api_client)
        self._pods = pods
        self._ray_version = ray_version

    def spec(self, declaration: ClusterDeclaration) -> dict[str, Any]:
        """The RayCluster spec (pure): the ParkCluster's shape, its pods on the flavor it was admitted on."""
        owner = declaration.owner
        return ray_cluster_spec(
            admitted_cluster_spec(owner.spec, owner.status.admission),
            pods=self._pods,
            ray_version=self._ray_version,
        )

    def observe_cluster(self, key: str, declaration: ClusterDeclaration) -> ClusterObservation:
        namespace, name = split_key(key)
        body = self._get(namespace, name)
        if body is None:
            return ClusterObservation(handle=None, resources={})
        if not is_owned_by(body, declaration.owner):
            if left_by_a_namesake(body, declaration.owner):
                return ClusterObservation(
                    handle=None, resources={}, readiness="Starting",
                    message="an older RayCluster of that name is being deleted",
                )  # fmt: skip
            return ClusterObservation(
                handle=None, resources={}, readiness="Failed", message=in_the_way(KIND, declaration.owner)
            )
        status = body.get("status") or {}
        state, message = readiness(status)
        if not status:
            message = "waiting for KubeRay to report the RayCluster"
        written_from = (body["metadata"].get("annotations") or {}).get(SPEC_HASH)
        return ClusterObservation(
            handle=cluster_handle(key, namespace, status, declaration),
            resources=held_resources(declaration.owner.spec),
            current=written_from == spec_hash(self.spec(declaration)),
            readiness=state,
            message=message,
            conditions=kuberay_conditions(status, declaration.owner.status.conditions),
            restarts_on_change=False,
        )

    def declare_cluster(self, key: str, declaration: ClusterDeclaration) -> None:
        namespace, name = split_key(key)
        try:
            body, change = ensure_child(self._objects, KIND, declaration.owner, self.spec(declaration))
        except ApiException as exc:
            if exc.status in (400, 422):  # the API server refuses this spec: asking again cannot help
                raise SubstrateError(f"Kubernetes refused RayCluster {name}: {api_message(exc)}") from exc
            if exc.status == 409 and _api_reason(exc) == "AlreadyExists":
                # One the watch cache does not hold: not labelled as Park's, so someone else's.
                raise SubstrateError(in_the_way(KIND, declaration.owner)) from exc
            raise SubstrateUnavailableError(
                f"cannot write RayCluster {namespace}/{name}: {exc.reason}"
            ) from exc
        if body is None:  # made between this reconcile's look and now, by someone else
            raise SubstrateUnavailableError(f"RayCluster {namespace}/{name} is not this ParkCluster's")
        if change:
            logger.info("%s RayCluster %s/%s", change, namespace, name)

    def stop_cluster(self, key: str) -> None:
        """Delete the ParkCluster's RayCluster (its pods go with it); one Park did not make stays."""
        namespace, name = split_key(key)
        body = self._get(namespace, name)
        labels = (body or {}).get("metadata", {}).get("labels") or {}
        if body is not None and labels.get(OWNER_KIND) == "ParkCluster" and labels.get(OWNER_NAME) == name:
            try:
                self._objects.delete(KIND, namespace, name)
            except ApiException as exc:
                raise SubstrateUnavailableError(
                    f"cannot delete RayCluster {namespace}/{name}: {exc.reason}"
                ) from exc
            logger.info("deleted RayCluster %s/%s", namespace, name)

    def _get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._objects.get(KIND, namespace, name)
        except ApiException as exc:
            raise SubstrateUnavailableError(
                f"cannot read RayCluster {namespace}/{name}: {exc.reason}"
            ) from exc
