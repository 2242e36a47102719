"""The ParkService controller: observes Serve on the service's cluster, asks `plan_service`, does it.

The same controller runs under `park up` and in the operator; the layout says where a service's
applications run (park.control.costs.Layout):

- `SHARED_HEAD` (`park up`): on the local head of the ParkCluster it names, beside every other service
  naming it. Serve's REST API replaces a cluster's whole application set per call, so `SyncServe`
  declares every admitted, living service of that cluster at once, under a per-cluster lock.
- `OWN_CLUSTER` (KubeRay): on a RayService of its own, shaped by the ParkCluster it names; `SyncServe`
  declares only its own applications (park.substrates.kuberay_services).

Either way a declaration is made only when it differs from what this process last declared or from
what Serve reports (a restarted head has none).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from park.control.controllers.effects import ObjectWriter
from park.control.costs import Layout
from park.control.reconcile.actions import RecordEvent, SyncServe, WriteStatus
from park.control.reconcile.cluster import cluster_key
from park.control.reconcile.service import (
    ServiceObservation,
    is_admitted,
    missing_models,
    model_jobs,
    plan_service,
    serve_applications,
)
from park.control.store import Store
from park.core.errors import InvalidError, NotFoundError, SubstrateError, SubstrateUnavailableError
from park.core.resources import ParkCluster, ParkClusterSpec, ParkJob, ParkService, ResourceKey
from park.substrates.interface import ServeApplicationState, ServeDeclaration, ServeRunner

logger = logging.getLogger(__name__)


class ServiceReconciler:
    kind = "ParkService"

    def __init__(
        self,
        *,
        store: Store,
        substrate: ServeRunner,
        layout: Layout = Layout.SHARED_HEAD,
        finalizer: bool = True,
        least_poll_seconds: float = 0.0,
    ) -> None:
        """`finalizer`: hold a deleted service until its applications left Serve; not needed where its
        RayService is owned by it (Kubernetes' garbage collector removes it).
        `least_poll_seconds`: look again no sooner than this unless told of a change (where each look at
        Serve is a request through the API server)."""
        self._store = store
        self._substrate = substrate
        self._layout = layout
        self._finalizer = finalizer
        self._least_poll = least_poll_seconds
        self._declared: dict[str, str] = {}  # cluster key -> the JSON of the last declaration
        self._cluster_locks: dict[str, asyncio.Lock] = {}

    async def reconcile(self, key: ResourceKey) -> float | None:
        try:
            service = self._store.get(key.kind, key.namespace, key.name)
        except NotFoundError:
            return None
        assert isinstance(service, ParkService)
        observed = await asyncio.to_thread(self._observe, service)
        plan = plan_service(service, observed, finalizer=self._finalizer)
        writer = ObjectWriter(self._store, service)
        for action in plan.actions:
            if await asyncio.to_thread(writer.apply, action):  # off the loop: other keys go on
                continue
            match action:
                case SyncServe():
                    assert observed.cluster is not None, "Serve is synced only on a running cluster"
                    if not await self._sync(writer, observed):
                        break  # rejected: the service says so, not what the plan expected of Serve
                case _:
                    raise TypeError(f"unexpected action {action!r}")
        if plan.requeue_after is None:
            return None
        return max(plan.requeue_after, self._least_poll)

    def _cluster_key(self, service: ParkService) -> str:
        """Which Ray cluster the service's applications run on: its ParkCluster's head, or its own."""
        own = self._layout is Layout.OWN_CLUSTER
        return cluster_key(service.metadata.namespace, service.metadata.name if own else service.spec.cluster)

    def _observe(self, service: ParkService) -> ServiceObservation:
        handle = self._substrate.get_cluster(self._cluster_key(service))
        checkpoints = model_checkpoints(self._store, service)
        missing = missing_models(service, checkpoints)
        invalid = self._invalid(serve_applications(service, checkpoints))
        if handle is None:
            return ServiceObservation(cluster=None, invalid=invalid, missing_models=missing)
        apps = self._substrate.serve_applications(handle)
        return ServiceObservation(cluster=handle, apps=apps, invalid=invalid, missing_models=missing)

    def _invalid(self, entries: list[dict[str, Any]]) -> str | None:
        try:
            self._substrate.check_applications(entries)
        except InvalidError as exc:
            return str(exc)
        return None

    async def _sync(self, writer: ObjectWriter, observed: ServiceObservation) -> bool:
        """Declare what the service's cluster should serve; False when the substrate refused it."""
        assert observed.cluster is not None
        handle = observed.cluster
        async with self._cluster_locks.setdefault(handle.key, asyncio.Lock()):
            assert isinstance(writer.obj, ParkService)
            declaration = self._declaration(writer.obj)
            declared = json.dumps(
                {
                    "applications": declaration.applications,
                    "cluster": declaration.cluster.model_dump(mode="json") if declaration.cluster else None,
                },
                sort_keys=True,
            )
            # What Serve ran when this reconcile observed it: a head restarted since then is seen next time.
            if declared == self._declared.get(handle.key) and _same_names(
                declaration.applications, observed.apps
            ):
                return True
            try:
                await asyncio.to_thread(self._substrate.deploy_applications, handle, declaration)
            except SubstrateUnavailableError:
                raise
            except SubstrateError as exc:
                self._declared.pop(handle.key, None)
                self._rejected(writer, str(exc))
                return False
            self._declared[handle.key] = declared
            return True

    def _declaration(self, service: ParkService) -> ServeDeclaration:
        if self._layout is Layout.OWN_CLUSTER:
            return ServeDeclaration(
                applications=self._declared_applications([service]),
                cluster=self._template(service) or ParkClusterSpec(),
                owner=service,
            )
        namespace, cluster = service.metadata.namespace, service.spec.cluster
        sharing = [
            other
            for other in self._store.list("ParkService", namespace=namespace).items
            if isinstance(other, ParkService) and other.spec.cluster == cluster
        ]
        return ServeDeclaration(applications=self._declared_applications(sharing))

    def _declared_applications(self, services: list[ParkService]) -> list[dict[str, Any]]:
        """The applications of every admitted, living, valid service given, in a stable order."""
        apps: list[dict[str, Any]] = []
        for service in services:
            if service.metadata.deletion_timestamp is not None or not is_admitted(service):
                continue
            checkpoints = model_checkpoints(self._store, service)
            if missing_models(service, checkpoints):
                continue  # its model is not there yet: planned Pending
            entries = serve_applications(service, checkpoints)
            if self._invalid(entries) is None:  # an invalid one is Failed by its own reconcile
                apps += entries
        return sorted(apps, key=lambda app: str(app["name"]))

    def _template(self, service: ParkService) -> ParkClusterSpec | None:
        """The ParkCluster the service names shapes the Ray cluster it brings (head, worker groups)."""
        try:
            cluster = self._store.get("ParkCluster", service.metadata.namespace, service.spec.cluster)
        except NotFoundError:
            return None
        return cluster.spec if isinstance(cluster, ParkCluster) else None

    def _rejected(self, writer: ObjectWriter, message: str) -> None:
        """Serve refused the config (it validates the whole set): the service says so and waits."""
        service = writer.obj
        assert isinstance(service, ParkService)
        status = service.status.model_copy(update={"phase": "Failed", "message": message})
        if status != service.status:
            writer.apply(WriteStatus(status))
            writer.apply(RecordEvent("Warning", "DeployRejected", message))
        logger.warning("Serve rejected the applications of %s: %s", service.key, message)


def model_checkpoints(store: Store, service: ParkService) -> dict[str, str]:
    """The checkpoints of the jobs the service serves models from (`args.model: job:<name>`), read the
    same way by `park up`'s controller and the operator, so `job:` resolves alike on both substrates."""
    found = {}
    for name in model_jobs(service):
        try:
            job = store.get("ParkJob", service.metadata.namespace, name)
        except NotFoundError:
            continue
        if isinstance(job, ParkJob) and job.status.checkpoint:
            found[name] = job.status.checkpoint
    return found


def _same_names(apps: list[dict[str, Any]], current: dict[str, ServeApplicationState]) -> bool:
    return {str(app["name"]) for app in apps} == set(current)


__all__ = ["ServiceReconciler", "model_checkpoints"]
