"""Level-triggered reconcilers: read the Park object and its KubeRay child, converge, mirror status.

The operator's controllers (park.operator.controllers) call the same function with the object's name on
any change of the Park object or of its child, so a missed event, a crash mid-way or a resync only
repeats idempotent steps. Status writes carry the resourceVersion they were computed from; on 409 the
whole pass runs again on a fresh read.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes.client.exceptions import ApiException

from park.control.controllers.services import model_checkpoints
from park.control.costs import cluster_cost, ray_resources
from park.control.reconcile.cluster import may_run, queued_status
from park.control.reconcile.service import (
    estimated_deployments,
    is_admitted,
    missing_models,
    route_prefix,
    waiting_for_models,
)
from park.control.store import Store
from park.control.store.interface import EventType
from park.core.clock import Clock
from park.core.errors import ConflictError, NotFoundError
from park.core.resources import AnyResource, ParkCluster, ParkClusterSpec, ParkService
from park.operator.kuberay import ray_service_spec
from park.operator.mirror import cluster_status, service_phase, service_status
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_objects import ChildObjects
from park.substrates.kuberay_specs import (
    SPEC_HASH,
    admitted_cluster_spec,
    child_object,
    ray_cluster_spec,
    spec_hash,
)

logger = logging.getLogger(__name__)
CONFLICT_RETRIES = 5
SERVE_PORT = 8000
MODEL_POLL_SECONDS = 5.0
"""How often a ParkService waiting for a `job:<name>` model's checkpoint looks again."""


class Reconcilers:
    def __init__(
        self, *, store: Store, children: ChildObjects, settings: OperatorSettings, clock: Clock
    ) -> None:
        self._store = store
        self._children = children
        self._settings = settings
        self._clock = clock

    def reconcile(self, kind: str, namespace: str, name: str) -> float | None:
        """Converge one Park object; a conflict means someone wrote first, so read again and redo.
        Returns seconds until it wants another look with no change (None: only on a change)."""
        once = {"ParkCluster": self._cluster, "ParkService": self._service}[kind]
        for _ in range(CONFLICT_RETRIES):
            try:
                obj = self._store.get(kind, namespace, name)
            except NotFoundError:
                return None  # deleted: the garbage collector removes its children (owner references)
            if obj.metadata.deletion_timestamp is not None:
                return None
            try:
                return once(obj)
            except ConflictError:
                continue
            except ApiException as exc:
                if exc.status != 409:
                    raise
        raise ConflictError(f"{kind} {namespace}/{name} kept changing during {CONFLICT_RETRIES} passes")

    # ParkCluster → RayCluster

    def _cluster(self, obj: AnyResource) -> float | None:
        assert isinstance(obj, ParkCluster)
        now = self._clock.now()
        if not may_run(obj):  # charged to a queue and not admitted: no pods, as on park up no head
            self._remove(obj, "RayCluster")
            self._write_status(obj, queued_status(obj, now))
            return None
        spec = ray_cluster_spec(
            admitted_cluster_spec(obj.spec, obj.status.admission),
            pods=self._settings.pod_defaults(),
            ray_version=self._settings.ray_version,
        )
        ray = self._ensure(obj, "RayCluster", spec)
        status = (
            cluster_status(
                obj.status,
                ray.get("status"),
                namespace=obj.metadata.namespace or "default",
                generation=obj.metadata.generation,
                now=now,
                resources=ray_resources(cluster_cost(obj.spec).total),
            )
            if ray is not None
            else obj.status.model_copy(
                update={"phase": "Pending", "message": "an older RayCluster of that name is being deleted"}
            )
        )
        self._write_status(obj, status)
        return None

    def _template(self, namespace: str | None, name: str) -> ParkClusterSpec | None:
        """The ParkCluster a job or service names shapes its own Ray cluster (head, worker groups)."""
        try:
            cluster = self._store.get("ParkCluster", namespace, name)
        except NotFoundError:
            return None
        return cluster.spec if isinstance(cluster, ParkCluster) else None

    # ParkService → RayService (created once the scheduler granted its replicas)

    def _service(self, obj: AnyResource) -> float | None:
        assert isinstance(obj, ParkService)
        service = obj
        namespace = service.metadata.namespace or "default"
        admitted = is_admitted(service)
        checkpoints = model_checkpoints(self._store, service)
        missing = missing_models(service, checkpoints)
        ray: dict[str, Any] | None = None
        if admitted and not missing:
            template = self._template(namespace, service.spec.cluster) or ParkClusterSpec()
            spec = ray_service_spec(
                service,
                cluster=admitted_cluster_spec(template, service.status.admission),
                pods=self._settings.pod_defaults(),
                ray_version=self._settings.ray_version,
                checkpoints=checkpoints,
            )
            ray = self._ensure(service, "RayService", spec)
        phase, message = service_phase(admitted, (ray or {}).get("status"), estimate_written=True)
        if missing:  # Pending asks the scheduler for nothing yet (looked at again every MODEL_POLL_SECONDS)
            phase, message = "Pending", waiting_for_models(missing)
        status = service_status(
            service.status,
            (ray or {}).get("status"),
            phase=phase,
            message=message,
            endpoints=_serve_endpoints(service, namespace) if admitted else [],
            generation=service.metadata.generation,
            now=self._clock.now(),
        )
        if not status.deployments:
            status = status.model_copy(update={"deployments": estimated_deployments(service)})
        self._write_status(service, status)
        return MODEL_POLL_SECONDS if missing else None

    # shared

    def _ensure(self, owner: AnyResource, kind: str, spec: dict[str, Any]) -> dict[str, Any] | None:
        """Create the child, or rewrite its spec when Park's desired spec changed; None: not ours (yet)."""
        namespace = owner.metadata.namespace or "default"
        ray = self._children.get(kind, namespace, owner.metadata.name)
        if ray is None:
            ray, created = self._children.create(child_object(kind, owner, spec))
            if created:
                self._event(owner, "Normal", f"Created{kind}", f"created {kind} {owner.metadata.name}")
        if not _owned_by(ray, owner):
            return None
        if (ray["metadata"].get("annotations") or {}).get(SPEC_HASH) != spec_hash(spec):
            patch = {
                "metadata": {
                    "resourceVersion": ray["metadata"]["resourceVersion"],
                    "annotations": {SPEC_HASH: spec_hash(spec)},
                },
                "spec": spec,
            }
            ray = self._children.patch(kind, namespace, owner.metadata.name, patch)
            self._event(
                owner, "Normal", f"Updated{kind}", f"updated {kind} {owner.metadata.name} to the new spec"
            )
        return ray

    def _remove(self, owner: AnyResource, kind: str) -> None:
        namespace = owner.metadata.namespace or "default"
        child = self._children.get(kind, namespace, owner.metadata.name)
        if child is not None and _owned_by(child, owner):
            self._children.delete(kind, namespace, owner.metadata.name)
            self._event(
                owner, "Normal", f"Deleted{kind}", f"deleted {kind} {owner.metadata.name}: not admitted"
            )

    def _write_status(self, obj: AnyResource, status: Any) -> None:
        if status == obj.status:
            return
        updated = self._store.update_status(obj.model_copy(update={"status": status}))
        if status.phase != obj.status.phase:
            kind: EventType = "Warning" if status.phase in ("Failed", "Preempting") else "Normal"
            self._event(updated, kind, str(status.phase), status.message or "")

    def _event(self, obj: AnyResource, type: EventType, reason: str, message: str) -> None:
        logger.info("%s: %s: %s", obj.key, reason, message)
        self._store.record_event(obj, type=type, reason=reason, message=message)


def _owned_by(child: dict[str, Any], owner: AnyResource) -> bool:
    refs = child.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner.metadata.uid for ref in refs)


def _serve_endpoints(service: ParkService, namespace: str) -> list[str]:
    """KubeRay's Serve Service for a RayService is `<name>-serve-svc`; apps route as in embedded mode."""
    base = f"http://{service.metadata.name}-serve-svc.{namespace}.svc:{SERVE_PORT}"
    return [base + route_prefix(service, app) for app in service.spec.applications]
