"""Ray Serve on KubeRay: each ParkService's applications run on a RayService of its own (same name).

The same planner as on `park up` (park.control.reconcile.service) drives it through the ServeSubstrate
calls, so phases, messages, events, `status.deployments` and endpoints are the same code on both:

- the cluster: a RayService brings its own Ray cluster, so a service always has one to declare to
  (`get_cluster` never says "not running"); its Serve proxy is KubeRay's `<name>-serve-svc` Service.
- declare: create the RayService with `serveConfigV2` = the service's applications and
  `rayClusterConfig` shaped by the ParkCluster the service names, or patch it when that changes.
  It carries an owner reference, so Kubernetes' garbage collector removes it with the service.
- observe: Serve's own `GET /api/serve/applications/` on the head KubeRay deploys to, through the API
  server's service proxy, read by the same parser as on `park up` (replica targets and counts, which
  the scheduler reads from `status.deployments`); when the head cannot be reached, KubeRay's copy in
  the RayService's status (each application's and deployment's status and message, no replica counts).
  An application Serve runs is RUNNING here only once KubeRay routes the Serve Service to it (the
  RayService's `Ready` condition): on `park up` Serve's proxy answers at once, here the endpoint is that
  Service, so `Running` means the same on both: the listed endpoint answers.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from park.core.errors import SubstrateError, SubstrateUnavailableError
from park.core.resources import ParkClusterSpec, PodTemplate
from park.substrates import _ray_serve as serve
from park.substrates.interface import (
    ClusterHandle,
    HeadConfig,
    ServeApplicationState,
    ServeDeclaration,
    ServeDeploymentState,
)
from park.substrates.kuberay_objects import (
    ChildObjects,
    KubeRayObjects,
    api_message,
    ensure_child,
    in_the_way,
    left_by_a_namesake,
    split_key,
)
from park.substrates.kuberay_specs import admitted_cluster_spec, ray_cluster_spec
from park.substrates.ray_head_proxy import UNREADABLE, HeadProxy, read_json

logger = logging.getLogger(__name__)
SERVE_PORT = 8000
SERVE_PATH = "api/serve/applications/"


def serve_url(namespace: str, name: str) -> str:
    """KubeRay's Serve Service of the RayService `name`: every pod whose Serve proxy is healthy."""
    return f"http://{name}-serve-svc.{namespace}.svc:{SERVE_PORT}"


def rayservice_spec(
    applications: list[dict[str, Any]], *, cluster: ParkClusterSpec, pods: PodTemplate, ray_version: str
) -> dict[str, Any]:
    """The RayService's spec (pure): Serve's config as KubeRay takes it, and the cluster to run it on."""
    return {
        "serveConfigV2": yaml.safe_dump({"applications": applications}, sort_keys=False),
        "rayClusterConfig": ray_cluster_spec(cluster, pods=pods, ray_version=ray_version),
    }


def serving_status(rayservice: dict[str, Any]) -> dict[str, Any]:
    """The status of the Ray cluster KubeRay deploys the current config to: the pending one while it
    prepares one (the first cluster, or a new one for a changed `rayClusterConfig`), else the active one."""
    status = rayservice.get("status") or {}
    for which in ("pendingServiceStatus", "activeServiceStatus"):
        found = status.get(which) or {}
        if isinstance(found, dict) and found.get("rayClusterName"):
            return found
    return {}


def status_applications(rayservice: dict[str, Any]) -> dict[str, ServeApplicationState]:
    """KubeRay's copy of Serve's application states (`applicationStatuses`): statuses and messages only."""
    apps = serving_status(rayservice).get("applicationStatuses") or {}
    return {
        str(name): ServeApplicationState(
            name=str(name),
            status=str(app.get("status") or "NOT_STARTED"),
            message=str(app.get("message") or ""),
            route_prefix=None,
            deployments={
                str(dname): ServeDeploymentState(
                    name=str(dname),
                    status=str(dep.get("status") or "UPDATING"),
                    message=str(dep.get("message") or ""),
                    target_replicas=None,
                    running_replicas=None,
                    replica_resources={},
                )
                for dname, dep in (app.get("serveDeploymentStatuses") or {}).items()
                if isinstance(dep, dict)
            },
        )
        for name, app in apps.items()
        if isinstance(app, dict)
    }


def is_ready(rayservice: dict[str, Any]) -> bool:
    """KubeRay's `Ready` condition: the Serve Service has endpoints (the deprecated `serviceStatus` says the
    same where a KubeRay without conditions wrote the status)."""
    status = rayservice.get("status") or {}
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return status.get("serviceStatus") == "Running"


def routed(apps: dict[str, ServeApplicationState], ready: bool) -> dict[str, ServeApplicationState]:
    """Serve's RUNNING applications are still DEPLOYING while nothing routes the Serve Service to them."""
    if ready:
        return apps
    return {
        name: replace(app, status="DEPLOYING") if app.status == "RUNNING" else app
        for name, app in apps.items()
    }


class KubeRayServices:
    """The ServeRunner of the operator: one RayService per ParkService."""

    def __init__(
        self,
        *,
        api_client: k8s.ApiClient,
        pods: PodTemplate,
        ray_version: str,
        objects: ChildObjects | None = None,
        proxy: HeadProxy | None = None,
    ) -> None:
        """`objects`: how RayServices are read and written (the operator's answer reads a watch cache)."""
        self._objects = objects or KubeRayObjects(api_client)
        self._proxy: HeadProxy = proxy or k8s.CoreV1Api(api_client)
        self._pods = pods
        self._ray_version = ray_version

    def get_cluster(self, key: str) -> ClusterHandle:
        """Always there: the RayService brings its own cluster (created when Serve is first declared)."""
        namespace, name = split_key(key)
        return ClusterHandle(
            key=key,
            dashboard_url="",
            gcs_address="",
            token="",
            pid=0,
            config=HeadConfig(0),
            serve_url=serve_url(namespace, name),
        )

    def check_applications(self, applications: list[dict[str, Any]]) -> None:
        serve.check_applications(applications)

    def deploy_applications(self, handle: ClusterHandle, declaration: ServeDeclaration) -> None:
        namespace, name = split_key(handle.key)
        owner = declaration.owner
        if owner is None or owner.metadata.name != name:
            raise TypeError(
                f"RayService {namespace}/{name} is declared only with the ParkService that owns it"
            )
        if not declaration.applications:
            return  # nothing to serve yet: no cluster either
        spec = rayservice_spec(
            declaration.applications,
            # Its pods on the flavor the scheduler admitted its replicas on (none: anywhere).
            cluster=admitted_cluster_spec(declaration.cluster or ParkClusterSpec(), owner.status.admission),
            pods=self._pods,
            ray_version=self._ray_version,
        )
        try:
            body, change = ensure_child(self._objects, "RayService", owner, spec)
        except ApiException as exc:
            if exc.status in (400, 422):  # the API server refuses this spec: asking again cannot help
                raise SubstrateError(f"Kubernetes refused RayService {name}: {api_message(exc)}") from exc
            raise SubstrateUnavailableError(
                f"cannot write RayService {namespace}/{name}: {exc.reason}"
            ) from exc
        if body is None:
            found = self._objects.get("RayService", namespace, name) or {}
            if left_by_a_namesake(found, owner):
                raise SubstrateUnavailableError(f"an older RayService {name} is being deleted")
            raise SubstrateError(in_the_way("RayService", owner))
        if change:
            logger.info("%s RayService %s/%s", change, namespace, name)

    def serve_applications(self, handle: ClusterHandle) -> dict[str, ServeApplicationState]:
        """What Serve on the head says; KubeRay's copy when the head cannot be reached through the proxy."""
        namespace, name = split_key(handle.key)
        rayservice = self._objects.get("RayService", namespace, name)
        if rayservice is None:
            return {}
        return routed(self._applications(namespace, rayservice), is_ready(rayservice))

    def _applications(self, namespace: str, rayservice: dict[str, Any]) -> dict[str, ServeApplicationState]:
        cluster = serving_status(rayservice).get("rayClusterName")
        if cluster:
            try:
                return serve.parse_applications(read_json(self._proxy, namespace, str(cluster), SERVE_PATH))
            except UNREADABLE as exc:
                logger.debug(
                    "Serve on %s/%s not reachable (%s); reading KubeRay's status", namespace, cluster, exc
                )
        return status_applications(rayservice)
