"""ParkClusters on Kubernetes: `park up`'s cluster controller over the KubeRay cluster substrate.

The same planner, phases, messages, events, restarts and queued/admitted behaviour as on `park up`
(park.control.controllers.clusters); only the substrate differs: a RayCluster per ParkCluster
(park.substrates.kuberay_clusters), owned by it, so no finalizer.
"""

from __future__ import annotations

from kubernetes import client as k8s

from park.control.controllers.clusters import ClusterReconciler
from park.control.controllers.informer import SharedInformer
from park.control.controllers.runner import Controller
from park.control.store import Store
from park.core.clock import SystemClock
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_clusters import KubeRayClusters
from park.substrates.kuberay_objects import ChildObjects


def cluster_controller(
    store: Store,
    api_client: k8s.ApiClient,
    settings: OperatorSettings,
    *,
    objects: ChildObjects | None = None,
    informer: SharedInformer | None = None,
) -> Controller:
    """`objects`: RayClusters read from a watch cache whose changes wake the controller, so a cluster is
    looked at on a change of it or of its RayCluster (and every resync), never polled."""
    substrate = KubeRayClusters(
        api_client=api_client, pods=settings.pod_defaults(), ray_version=settings.ray_version, objects=objects
    )
    reconciler = ClusterReconciler(
        store=store,
        substrate=substrate,
        clock=SystemClock(),
        check_every=None if objects is not None else settings.resync_seconds,
        finalizer=False,  # the RayCluster is owned by the ParkCluster: the garbage collector removes it
    )
    return Controller(
        store=store,
        reconciler=reconciler,
        resync_seconds=settings.resync_seconds,
        workers=4,
        informer=informer,
    )
