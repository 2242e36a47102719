"""ParkJobs on Kubernetes: the KubeRay job substrate as the operator's settings shape it, and job logs.

The controller (park.operator.controllers) and `park operator api`'s logs use the same substrate: one
RayJob per attempt (park.substrates.kuberay_jobs), files and archived logs under `PARK_OPERATOR_JOBS_ROOT`.
"""

from __future__ import annotations

from kubernetes import client as k8s

from park.control.logs import JobLogs, LogArchive
from park.control.store import Store
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_jobs import KubeRayJobs
from park.substrates.kuberay_objects import KubeRayObjects


def kuberay_jobs(
    api_client: k8s.ApiClient, settings: OperatorSettings, objects: KubeRayObjects | None = None
) -> KubeRayJobs:
    return KubeRayJobs(
        api_client=api_client, pods=settings.pod_defaults(), ray_version=settings.ray_version, objects=objects
    )


def kubernetes_job_logs(*, store: Store, api_client: k8s.ApiClient, settings: OperatorSettings) -> JobLogs:
    """A finished attempt's archived output, else what its RayJob's submitter pod prints."""
    runner = kuberay_jobs(api_client, settings)
    return JobLogs(store=store, substrate=runner, archive=LogArchive(settings.logs_root()))
