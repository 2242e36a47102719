"""Park shapes → KubeRay specs (`ray.io/v1`): pure functions, so every mapping is unit-tested.

A Ray cluster's shape (head, worker groups, pods) becomes a RayCluster spec, which is also a RayJob's
`rayClusterSpec` and a RayService's `rayClusterConfig`. Ray sees CPUs, memory and GPUs from the pods'
limits, so limits carry the resources (`nvidia.com/gpu` for GPUs) and requests equal limits.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from park.core.meta import API_VERSION
from park.core.quantities import parse_quantity
from park.core.resources import (
    Admission,
    AnyResource,
    ComputeResources,
    HeadSpec,
    ParkClusterSpec,
    ParkJob,
    PodTemplate,
    ServiceAdmission,
    WorkerGroupSpec,
)

RAY_API_VERSION = "ray.io/v1"
GPU_RESOURCE = "nvidia.com/gpu"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "park-operator"
OWNER_KIND = "park.dev/owner-kind"
OWNER_NAME = "park.dev/owner-name"
ATTEMPT = "park.dev/attempt"
SPEC_HASH = "park.dev/spec-hash"
GANG_GROUP = "gang"
DEFAULT_IMAGE = "rayproject/ray:2.60.0"
HEAD_PORTS = (("gcs-server", 6379), ("dashboard", 8265), ("client", 10001), ("serve", 8000))


def container_resources(
    resources: ComputeResources, cpu_request_ratio: float | None = None
) -> dict[str, Any]:
    """Pod limits for one Ray node, from which Ray derives its logical CPUs/GPUs/memory; requests equal
    them, except CPU when the cluster admin overcommits CPU (`cpu_request_ratio`)."""
    limits: dict[str, Any] = {}
    if resources.cpu is not None:
        limits["cpu"] = resources.cpu
    if resources.memory is not None:
        limits["memory"] = resources.memory
    if resources.gpu:
        limits[GPU_RESOURCE] = resources.gpu
    requests = dict(limits)
    if resources.cpu is not None and cpu_request_ratio is not None:
        millicores = max(1, round(parse_quantity(resources.cpu) * cpu_request_ratio * 1000))
        requests["cpu"] = f"{millicores}m"
    return {"limits": dict(limits), "requests": requests} if limits else {}


def ray_start_params(resources: ComputeResources, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Custom resources and the accelerator type travel to `ray start --resources` as JSON."""
    params = dict(extra or {})
    custom = dict(resources.custom)
    if resources.accelerator and resources.gpu:
        custom[f"accelerator_type:{resources.accelerator}"] = 1.0
    if custom:
        params["resources"] = json.dumps(custom, sort_keys=True)
    return params


# KubeRay 1.5 polls the Ray dashboard without a token, so Ray's token auth stays off inside the pods;
# the cluster's network boundary is what protects a Ray head on Kubernetes.
POD_ENV = {"RAY_AUTH_MODE": "disabled"}


def _pod_template(
    container: str, pods: PodTemplate, resources: ComputeResources, head: bool
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": container, "image": pods.image or DEFAULT_IMAGE}
    if pods.image_pull_policy:
        spec["imagePullPolicy"] = pods.image_pull_policy
    if head:
        spec["ports"] = [{"name": name, "containerPort": port} for name, port in HEAD_PORTS]
    compute = container_resources(resources, pods.cpu_request_ratio)
    spec.update({"resources": compute} if compute else {})
    env = {**POD_ENV, **pods.env}
    spec["env"] = [{"name": key, "value": value} for key, value in sorted(env.items())]
    if pods.volume_mounts:
        spec["volumeMounts"] = [mount.to_dict() for mount in pods.volume_mounts]
    pod: dict[str, Any] = {"containers": [spec]}
    if pods.volumes:
        pod["volumes"] = list(pods.volumes)
    if pods.node_selector:
        pod["nodeSelector"] = dict(pods.node_selector)
    if pods.tolerations:
        pod["tolerations"] = [toleration.to_dict() for toleration in pods.tolerations]
    if pods.service_account_name:
        pod["serviceAccountName"] = pods.service_account_name
    return {"spec": pod}


# `ray job submit` needs little; KubeRay's own default asks for half a core.
SUBMITTER_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


def submitter_pod_template(cluster: ParkClusterSpec, pods: PodTemplate) -> dict[str, Any]:
    """The K8sJobMode submitter pod, shaped like the cluster's pods (image, volumes, placement).

    KubeRay's default submitter carries only the head's image, so it would miss the volumes, node
    selector and tolerations that the cluster's pods need to run where they must.
    """
    template = _pod_template(
        "ray-job-submitter", cluster.pods.merged_over(pods), ComputeResources(), head=False
    )
    (container,) = template["spec"]["containers"]
    container["resources"] = SUBMITTER_RESOURCES
    template["spec"]["restartPolicy"] = "Never"
    return template


def ray_cluster_spec(spec: ParkClusterSpec, *, pods: PodTemplate, ray_version: str) -> dict[str, Any]:
    """The RayCluster spec (also a RayJob's `rayClusterSpec`, a RayService's `rayClusterConfig`).

    `pods` are the operator's defaults; the cluster's own `spec.pods` is laid over them.
    """
    head = spec.head
    shape = spec.pods.merged_over(pods)
    return {
        "rayVersion": ray_version,
        "headGroupSpec": {
            "rayStartParams": ray_start_params(
                head.resources,
                {"dashboard-host": "0.0.0.0", **head.ray_start_params},  # noqa: S104 (in-pod: Services reach it)
            ),
            "template": _pod_template("ray-head", shape, head.resources, head=True),
        },
        "workerGroupSpecs": [
            {
                "groupName": group.name,
                "replicas": group.replicas,
                "minReplicas": min(group.min_replicas, group.replicas),
                "maxReplicas": max(
                    group.max_replicas if group.max_replicas is not None else 0, group.replicas
                ),
                "rayStartParams": ray_start_params(group.resources),
                "template": _pod_template("ray-worker", shape, group.resources, head=False),
            }
            for group in spec.worker_groups
        ],
    }


def owner_reference(owner: AnyResource) -> dict[str, Any]:
    """Deleting the Park object deletes what it made (the garbage collector follows this reference)."""
    return owned_by(owner.kind, owner.metadata.name, owner.metadata.uid or "")


def owned_by(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def spec_hash(spec: dict[str, Any]) -> str:
    """What the child was last written from; the handler rewrites the spec only when this changes."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def child_object(
    kind: str, owner: AnyResource, spec: dict[str, Any], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": RAY_API_VERSION,
        "kind": kind,
        "metadata": {
            "name": owner.metadata.name,
            "namespace": owner.metadata.namespace,
            "labels": {MANAGED_BY: MANAGER, OWNER_KIND: owner.kind, OWNER_NAME: owner.metadata.name},
            "annotations": {SPEC_HASH: spec_hash(spec), **(annotations or {})},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": spec,
    }


def placed_on_flavor(pods: PodTemplate, admission: Admission | ServiceAdmission | None) -> PodTemplate:
    """The pods of work admitted on a resource flavor, placed on that flavor's nodes: its nodeLabels join
    the nodeSelector (winning over the cluster's own keys) and its tolerations are added, as Kueue
    injects a ResourceFlavor's into the pods of a workload it admits."""
    if admission is None or admission.flavor is None:
        return pods
    placement = PodTemplate(
        node_selector=admission.node_selector or {}, tolerations=admission.tolerations or []
    )
    return placement.merged_over(pods)


def admitted_cluster_spec(
    spec: ParkClusterSpec, admission: Admission | ServiceAdmission | None
) -> ParkClusterSpec:
    """A charged ParkCluster's (or a service's) Ray cluster, its pods on the flavor it was admitted on."""
    return spec.model_copy(update={"pods": placed_on_flavor(spec.pods, admission)})


def job_cluster_spec(job: ParkJob, template: ParkClusterSpec | None) -> ParkClusterSpec:
    """The cluster a RayJob brings: the named ParkCluster's head, and workers sized like the admitted gang.

    The scheduler charged the queue for `spec.resources` (replicas x perReplica), so that is exactly what
    the job's pods ask for; without a gang the template's worker groups (or none) are used. A job admitted
    on a resource flavor runs every pod (head, workers, submitter) on that flavor's nodes.
    """
    head = template.head if template is not None else HeadSpec()
    if job.spec.resources is not None:
        gang = job.spec.resources
        workers = [
            WorkerGroupSpec(
                name=GANG_GROUP,
                replicas=gang.replicas,
                min_replicas=gang.replicas,
                max_replicas=gang.replicas,
                resources=gang.per_replica,
            )
        ]
    else:
        workers = list(template.worker_groups) if template is not None else []
    pods = placed_on_flavor(template.pods if template is not None else PodTemplate(), job.status.admission)
    return ParkClusterSpec(head=head, pods=pods, worker_groups=workers)
