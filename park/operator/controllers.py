"""The operator's controllers, all on the Lease holder, all fed by two watches per kind at most.

- Park's kinds: one `SharedInformer` (one list, one watch per kind) whose cache answers every controller's
  reads (`CachedStore`) and the scheduler's, and whose events queue the changed object's key.
- KubeRay's kinds: one `KubeRayCache` whose changes queue the owner named by the child's labels (a RayJob
  → its ParkJob, a RayCluster → its ParkCluster, a RayService → its ParkService).

ParkJobs, ParkServices and ParkClusters are reconciled by `park up`'s controllers and planners (the same
phases, messages, events and status fields) over KubeRay adapters: a RayJob per attempt, a RayService
per service, a RayCluster per ParkCluster (park.substrates.kuberay_*). Each controller's work
queue holds a key once however often it is added, retries a failure with backoff, and resyncs from
memory every `PARK_OPERATOR_RESYNC_SECONDS`.
No finalizers: children carry owner references, so the garbage collector removes them with the owner.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubernetes import client as k8s

from park.control.controllers.cached_store import CachedStore
from park.control.controllers.clusters import ClusterReconciler
from park.control.controllers.informer import SharedInformer
from park.control.controllers.jobs import JobReconciler
from park.control.controllers.runner import Controller, Reconciler
from park.control.controllers.services import ServiceReconciler
from park.control.costs import Layout
from park.control.logs import LogArchive
from park.control.store import Store
from park.core.clock import SystemClock
from park.core.resources import ResourceKey
from park.operator.jobs import kuberay_jobs
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_cache import CachedKubeRayObjects, KubeRayCache
from park.substrates.kuberay_clusters import KubeRayClusters
from park.substrates.kuberay_objects import ChildObjects, KubeRayObjects
from park.substrates.kuberay_services import KubeRayServices
from park.substrates.kuberay_specs import OWNER_KIND, OWNER_NAME

logger = logging.getLogger(__name__)
OWNERS = {"RayJob": "ParkJob", "RayCluster": "ParkCluster", "RayService": "ParkService"}
WORKERS = {"ParkJob": 16, "ParkService": 4, "ParkCluster": 4}
"""Reconciles at once per kind: each mostly waits on the API server, and a burst of admitted jobs should
become RayJobs at once."""


def job_reconciler(
    store: Store, api_client: k8s.ApiClient, settings: OperatorSettings, objects: KubeRayObjects
) -> JobReconciler:
    """A RayJob per attempt, owned by the ParkJob (no finalizer); KubeRay's changes wake it, so a running
    job is looked at only every `PARK_OPERATOR_JOB_POLL_SECONDS`, for its report."""
    return JobReconciler(
        store=store,
        substrate=kuberay_jobs(api_client, settings, objects),
        archive=LogArchive(settings.logs_root()),
        clock=SystemClock(),
        jobs_root=settings.jobs_root,
        finalizer=False,
        least_poll_seconds=settings.job_poll_seconds,
    )


def service_reconciler(
    store: Store, api_client: k8s.ApiClient, settings: OperatorSettings, objects: ChildObjects
) -> ServiceReconciler:
    """A RayService of its own per service, owned by it; Serve's replica counts change with no KubeRay
    event, so a service is looked at every `PARK_OPERATOR_SERVICE_POLL_SECONDS`."""
    return ServiceReconciler(
        store=store,
        substrate=KubeRayServices(
            api_client=api_client,
            pods=settings.pod_defaults(),
            ray_version=settings.ray_version,
            objects=objects,
        ),
        layout=Layout.OWN_CLUSTER,
        finalizer=False,
        least_poll_seconds=settings.service_poll_seconds,
    )


def cluster_reconciler(
    store: Store, api_client: k8s.ApiClient, settings: OperatorSettings, objects: ChildObjects
) -> ClusterReconciler:
    """A RayCluster per ParkCluster, owned by it; looked at on a change of either (and every resync)."""
    return ClusterReconciler(
        store=store,
        substrate=KubeRayClusters(
            api_client=api_client,
            pods=settings.pod_defaults(),
            ray_version=settings.ray_version,
            objects=objects,
        ),
        clock=SystemClock(),
        check_every=None,
        finalizer=False,
    )


def operator_controllers(
    *,
    store: Store,
    informer: SharedInformer,
    kuberay: KubeRayCache,
    api_client: k8s.ApiClient,
    settings: OperatorSettings,
) -> list[Controller]:
    """The three controllers, reading through the informer's cache and the KubeRay cache, each woken by
    changes of its own kind and of the KubeRay objects it owns."""
    cached = CachedStore(store, informer.cache)
    children = CachedKubeRayObjects(api_client, kuberay)
    reconcilers: list[Reconciler] = [
        job_reconciler(cached, api_client, settings, children),
        service_reconciler(cached, api_client, settings, children),
        cluster_reconciler(cached, api_client, settings, children),
    ]
    controllers = [
        Controller(
            store=cached,
            reconciler=reconciler,
            resync_seconds=settings.resync_seconds,
            workers=WORKERS[reconciler.kind],
            informer=informer,
        )
        for reconciler in reconcilers
    ]
    by_kind = {controller.kind: controller for controller in controllers}
    loop = asyncio.get_running_loop()

    def child_changed(kind: str, body: dict[str, Any]) -> None:
        labels = body.get("metadata", {}).get("labels") or {}
        owner_kind, owner = OWNERS.get(kind), labels.get(OWNER_NAME)
        if owner_kind is None or labels.get(OWNER_KIND) != owner_kind or not owner:
            return
        key = ResourceKey(owner_kind, body["metadata"].get("namespace"), owner)
        loop.call_soon_threadsafe(by_kind[owner_kind].queue.add, key)

    kuberay.add_listener(child_changed)
    return controllers
