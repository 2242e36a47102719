"""ParkServices on Kubernetes: `park up`'s service controller over the KubeRay service substrate.

The same planner, phases, messages, events, `status.deployments` (read from Serve) and endpoints as on
`park up` (park.control.controllers.services); only the substrate differs: a RayService of its own per
service (park.substrates.kuberay_services), shaped by the ParkCluster it names.
"""

from __future__ import annotations

from kubernetes import client as k8s

from park.control.controllers.informer import SharedInformer
from park.control.controllers.runner import Controller
from park.control.controllers.services import ServiceReconciler
from park.control.costs import Layout
from park.control.store import Store
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_objects import ChildObjects
from park.substrates.kuberay_services import KubeRayServices


def service_controller(
    store: Store,
    api_client: k8s.ApiClient,
    settings: OperatorSettings,
    *,
    objects: ChildObjects | None = None,
    informer: SharedInformer | None = None,
) -> Controller:
    """`objects`: RayServices read from a watch cache whose changes wake the controller; Serve's replica
    counts change with no such event, so a service is looked at every `PARK_OPERATOR_SERVICE_POLL_SECONDS`."""
    substrate = KubeRayServices(
        api_client=api_client, pods=settings.pod_defaults(), ray_version=settings.ray_version, objects=objects
    )
    reconciler = ServiceReconciler(
        store=store,
        substrate=substrate,
        layout=Layout.OWN_CLUSTER,
        finalizer=False,  # the RayService is owned by the ParkService: the garbage collector removes it
        least_poll_seconds=settings.service_poll_seconds,
    )
    return Controller(
        store=store,
        reconciler=reconciler,
        resync_seconds=settings.resync_seconds,
        workers=4,
        informer=informer,
    )
