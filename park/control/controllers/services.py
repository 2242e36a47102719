"""The ParkService controller: observes Serve on the service's cluster, asks `plan_service`, does it.

Serve's REST API replaces a cluster's whole application set per call, so `SyncServe` declares every
admitted, living service of that cluster at once, under a per-cluster lock, and only when the set
differs from what this process last declared or from what Serve reports (a restarted head has none).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from park.control.controllers.effects import ObjectWriter
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
from park.core.resources import ParkJob, ParkService, ResourceKey
from park.substrates.interface import ServeApplicationState, Substrate

logger = logging.getLogger(__name__)


class ServiceReconciler:
    kind = "ParkService"

    def __init__(self, *, store: Store, substrate: Substrate) -> None:
        self._store = store
        self._substrate = substrate
        self._declared: dict[str, str] = {}  # cluster key -> the JSON of the last declared app set
        self._cluster_locks: dict[str, asyncio.Lock] = {}

    async def reconcile(self, key: ResourceKey) -> float | None:
        try:
            service = self._store.get(key.kind, key.namespace, key.name)
        except NotFoundError:
            return None
        assert isinstance(service, ParkService)
        observed = await asyncio.to_thread(self._observe, service)
        plan = plan_service(service, observed)
        writer = ObjectWriter(self._store, service)
        for action in plan.actions:
            if writer.apply(action):
                continue
            match action:
                case SyncServe():
                    assert observed.cluster is not None, "Serve is synced only on a running cluster"
                    await self._sync(writer, observed)
                case _:
                    raise TypeError(f"unexpected action {action!r}")
        return plan.requeue_after

    def _observe(self, service: ParkService) -> ServiceObservation:
        handle = self._substrate.get_cluster(cluster_key(service.metadata.namespace, service.spec.cluster))
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

    async def _sync(self, writer: ObjectWriter, observed: ServiceObservation) -> None:
        assert observed.cluster is not None
        handle = observed.cluster
        async with self._cluster_locks.setdefault(handle.key, asyncio.Lock()):
            assert isinstance(writer.obj, ParkService)
            apps = self._cluster_applications(writer.obj)
            declared = json.dumps(apps, sort_keys=True)
            # What Serve ran when this reconcile observed it: a head restarted since then is seen next time.
            if declared == self._declared.get(handle.key) and _same_names(apps, observed.apps):
                return
            try:
                await asyncio.to_thread(self._substrate.deploy_applications, handle, apps)
            except SubstrateUnavailableError:
                raise
            except SubstrateError as exc:
                self._declared.pop(handle.key, None)
                self._rejected(writer, str(exc))
                return
            self._declared[handle.key] = declared

    def _cluster_applications(self, service: ParkService) -> list[dict[str, Any]]:
        """Every admitted, living, valid service on the same cluster, in a stable order."""
        namespace, cluster = service.metadata.namespace, service.spec.cluster
        apps: list[dict[str, Any]] = []
        for other in self._store.list("ParkService", namespace=namespace).items:
            assert isinstance(other, ParkService)
            if other.spec.cluster != cluster or other.metadata.deletion_timestamp is not None:
                continue
            if not is_admitted(other):
                continue
            checkpoints = model_checkpoints(self._store, other)
            if missing_models(other, checkpoints):
                continue  # its model is not there yet: planned Pending
            entries = serve_applications(other, checkpoints)
            if self._invalid(entries) is None:  # an invalid one is Failed by its own reconcile
                apps += entries
        return sorted(apps, key=lambda app: str(app["name"]))

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
