"""ParkJobs on Kubernetes: `park up`'s job controller and job logs over the KubeRay job substrate.

The same planner, attempts, reports, checkpoints, gates and logs as on `park up`
(park.control.controllers.jobs, park.control.logs); only the substrate differs: one RayJob per
attempt (park.substrates.kuberay_jobs), files and archived logs under `PARK_OPERATOR_JOBS_ROOT`.
"""

from __future__ import annotations

from kubernetes import client as k8s

from park.control.controllers.informer import SharedInformer
from park.control.controllers.jobs import JobReconciler
from park.control.controllers.runner import Controller
from park.control.logs import JobLogs, LogArchive
from park.control.store import Store
from park.core.clock import SystemClock
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_jobs import KubeRayJobs
from park.substrates.kuberay_objects import KubeRayObjects


def kuberay_jobs(
    api_client: k8s.ApiClient, settings: OperatorSettings, objects: KubeRayObjects | None = None
) -> KubeRayJobs:
    return KubeRayJobs(
        api_client=api_client, pods=settings.pod_defaults(), ray_version=settings.ray_version, objects=objects
    )


def job_controller(
    store: Store,
    api_client: k8s.ApiClient,
    settings: OperatorSettings,
    *,
    objects: KubeRayObjects | None = None,
    informer: SharedInformer | None = None,
) -> Controller:
    """`objects`: RayJobs read from a watch cache whose changes wake the controller, so a running job is
    polled only every `PARK_OPERATOR_JOB_POLL_SECONDS` (for its report); `informer`: shared watch."""
    reconciler = JobReconciler(
        store=store,
        substrate=kuberay_jobs(api_client, settings, objects),
        archive=LogArchive(settings.logs_root()),
        clock=SystemClock(),
        jobs_root=settings.jobs_root,
        finalizer=False,  # the RayJob is owned by the ParkJob: the garbage collector stops it
        least_poll_seconds=settings.job_poll_seconds if objects is not None else 0.0,
    )
    return Controller(
        store=store,
        reconciler=reconciler,
        resync_seconds=settings.resync_seconds,
        workers=16,  # each mostly waits on the API server: a burst of admissions becomes RayJobs at once
        informer=informer,
    )


def kubernetes_job_logs(*, store: Store, api_client: k8s.ApiClient, settings: OperatorSettings) -> JobLogs:
    """A finished attempt's archived output, else what its RayJob's submitter pod prints."""
    runner = kuberay_jobs(api_client, settings)
    return JobLogs(store=store, substrate=runner, archive=LogArchive(settings.logs_root()))
