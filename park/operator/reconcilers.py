"""The ParkCluster reconciler: read the ParkCluster and its RayCluster, converge, mirror status.

(ParkJobs and ParkServices go through `park up`'s controllers and planners over KubeRay adapters:
park.operator.jobs, park.operator.services. ParkClusters have no substrate-neutral planner yet.)

The operator's ParkCluster controller (park.operator.controllers) calls it with the object's name on
any change of the ParkCluster or of its RayCluster, so a missed event, a crash mid-way or a resync only
repeats idempotent steps. Status writes carry the resourceVersion they were computed from; on 409 the
whole pass runs again on a fresh read.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes.client.exceptions import ApiException

from park.control.costs import cluster_cost, ray_resources
from park.control.reconcile.cluster import may_run, queued_status
from park.control.store import Store
from park.control.store.interface import EventType
from park.core.clock import Clock
from park.core.errors import ConflictError, NotFoundError
from park.core.resources import AnyResource, ParkCluster
from park.operator.mirror import cluster_status
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_objects import ChildObjects, ensure_child, is_owned_by
from park.substrates.kuberay_specs import admitted_cluster_spec, ray_cluster_spec

logger = logging.getLogger(__name__)
CONFLICT_RETRIES = 5


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
        once = {"ParkCluster": self._cluster}[kind]
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

    # shared

    def _ensure(self, owner: AnyResource, kind: str, spec: dict[str, Any]) -> dict[str, Any] | None:
        """Create the child, or rewrite its spec when Park's desired spec changed; None: not ours (yet)."""
        ray, change = ensure_child(self._children, kind, owner, spec)
        name = owner.metadata.name
        if change == "created":
            self._event(owner, "Normal", f"Created{kind}", f"created {kind} {name}")
        elif change == "updated":
            self._event(owner, "Normal", f"Updated{kind}", f"updated {kind} {name} to the new spec")
        return ray

    def _remove(self, owner: AnyResource, kind: str) -> None:
        namespace = owner.metadata.namespace or "default"
        child = self._children.get(kind, namespace, owner.metadata.name)
        if child is not None and is_owned_by(child, owner):
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
