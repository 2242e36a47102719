"""The operator's controllers, all on the Lease holder, all fed by two watches per kind at most.

- Park's kinds: one `SharedInformer` (one list, one watch per kind) whose cache answers every controller's
  reads (`CachedStore`) and the scheduler's, and whose events queue the changed object's key.
- KubeRay's kinds: one `KubeRayCache` whose changes queue the owner named by the child's labels (a RayJob
  → its ParkJob, a RayCluster → its ParkCluster, a RayService → its ParkService).

ParkJobs, ParkServices and ParkClusters are reconciled by `park up`'s controllers over KubeRay adapters
(park.operator.jobs, park.operator.services, park.operator.clusters). Each controller's work
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
from park.control.controllers.informer import SharedInformer
from park.control.controllers.runner import Controller
from park.control.store import Store
from park.core.resources import ResourceKey
from park.operator.clusters import cluster_controller
from park.operator.jobs import job_controller
from park.operator.services import service_controller
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_cache import CachedKubeRayObjects, KubeRayCache
from park.substrates.kuberay_specs import OWNER_KIND, OWNER_NAME

logger = logging.getLogger(__name__)
OWNERS = {"RayJob": "ParkJob", "RayCluster": "ParkCluster", "RayService": "ParkService"}


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
    controllers = [
        job_controller(cached, api_client, settings, objects=children, informer=informer),
        service_controller(cached, api_client, settings, objects=children, informer=informer),
        cluster_controller(cached, api_client, settings, objects=children, informer=informer),
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
