"""Park objects → KubeRay objects that still need the control plane's view: a ParkService's RayService
(its Serve applications, named as on `park up`) and the RayJob of the operator's own job path.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from park.control.reconcile.service import serve_applications
from park.control.reconcile.submission import contract_env, job_paths
from park.core.resources import ParkClusterSpec, ParkJob, ParkService, PodTemplate
from park.substrates.kuberay_specs import ray_cluster_spec, submitter_pod_template


def ray_job_spec(
    job: ParkJob,
    *,
    attempt: int,
    suspend: bool,
    cluster: ParkClusterSpec,
    pods: PodTemplate,
    ray_version: str,
    jobs_root: str,
    submission_mode: str = "K8sJobMode",
) -> dict[str, Any]:
    """The RayJob spec; `suspend` is the scheduler's lever, the PARK_* contract tells the attempt."""
    spec = job.spec
    entrypoint = spec.entrypoint or f"python -m park.workloads.{spec.workload.name}"  # type: ignore[union-attr]
    env = {
        **dict(spec.runtime_env.get("env_vars") or {}),
        **contract_env(job, attempt, job_paths(job, jobs_root)),
    }
    runtime_env = {**spec.runtime_env, "env_vars": env}
    body: dict[str, Any] = {
        "entrypoint": entrypoint,
        "runtimeEnvYAML": yaml.safe_dump(runtime_env, sort_keys=True),
        "shutdownAfterJobFinishes": True,
        "suspend": suspend,
        "submissionMode": submission_mode,
        "backoffLimit": spec.retries,
        "rayClusterSpec": ray_cluster_spec(cluster, pods=pods, ray_version=ray_version),
        "metadata": {"park.dev/attempt": str(attempt)},
    }
    if submission_mode == "K8sJobMode":
        body["submitterPodTemplate"] = submitter_pod_template(cluster, pods)
    driver = spec.entrypoint_resources
    if driver.cpu is not None:
        body["entrypointNumCpus"] = driver.cpu
    if driver.gpu is not None:
        body["entrypointNumGpus"] = driver.gpu
    if driver.custom:
        body["entrypointResources"] = json.dumps(driver.custom, sort_keys=True)
    return body


def serve_config(service: ParkService) -> str:
    """`serveConfigV2`: the service's Serve applications, named and routed as in embedded mode."""
    return yaml.safe_dump({"applications": serve_applications(service)}, sort_keys=False)


def ray_service_spec(
    service: ParkService, *, cluster: ParkClusterSpec, pods: PodTemplate, ray_version: str
) -> dict[str, Any]:
    return {
        "serveConfigV2": serve_config(service),
        "rayClusterConfig": ray_cluster_spec(cluster, pods=pods, ray_version=ray_version),
    }
