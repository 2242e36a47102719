"""Ray jobs on KubeRay: each attempt of a ParkJob is one RayJob, which brings its own Ray cluster.

The same planner as on `park up` (park.control.reconcile.job) drives it through the JobSubstrate
calls, so attempts, reports, checkpoints, preemption and gates behave the same on both substrates:

- submit: create the attempt's RayJob with `spec.jobId` = the attempt's submission id, so Ray refuses
  a second submission of the same attempt (KubeRay's submitter checks `ray job status` first); the
  RayJobs of earlier attempts, which have ended and whose logs were archived, are deleted.
- observe: the RayJob's `status.jobStatus` is Ray's own job status; a RayJob whose deployment failed
  before Ray ran the job (no cluster, a failed submitter) is a FAILED job with KubeRay's reason.
- stop: Ray's Jobs API on the head (through the API server's service proxy): SIGTERM to the driver,
  RAY_JOB_STOP_WAIT_TIME_S to checkpoint, then SIGKILL; KubeRay then tears the cluster down.
- logs: the driver's log from Ray's Jobs API on the head (kept FINISHED_HEAD_SECONDS after the job
  ends, so the planner archives it), else what the attempt's submitter pod printed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, cast, get_args

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from park.core.errors import SubstrateError, SubstrateUnavailableError
from park.core.resources import ParkClusterSpec, PodTemplate
from park.substrates.interface import ClusterHandle, HeadConfig, JobInfo, JobSubmission, RayJobStatus
from park.substrates.kuberay_objects import KubeRayObjects
from park.substrates.kuberay_specs import (
    ATTEMPT,
    MANAGED_BY,
    MANAGER,
    OWNER_KIND,
    OWNER_NAME,
    RAY_API_VERSION,
    owned_by,
    ray_cluster_spec,
    submitter_pod_template,
)
from park.substrates.ray_head_proxy import UNREADABLE, dashboard, read_json

logger = logging.getLogger(__name__)
MAX_RAYJOB_NAME = 47  # KubeRay's limit: the RayCluster and its pods append suffixes
JOB_UID = "park.dev/uid"
RAY_STATUSES: frozenset[str] = frozenset(get_args(RayJobStatus))
FINISHED_HEAD_SECONDS = 30


def rayjob_name(submission_id: str) -> str:
    """The attempt's RayJob: named like its submission id, shortened with a hash when it is too long."""
    name = submission_id.lower()
    if len(name) <= MAX_RAYJOB_NAME:
        return name
    digest = hashlib.sha256(submission_id.encode()).hexdigest()[:8]
    return f"{name[: MAX_RAYJOB_NAME - 9].rstrip('-')}-{digest}"


def namespace_of(handle: ClusterHandle) -> str:
    return handle.key.split(".", 1)[0]


def rayjob_body(
    submission: JobSubmission, *, cluster: ParkClusterSpec, pods: PodTemplate, ray_version: str
) -> dict[str, Any]:
    """The RayJob of one attempt (pure: unit-tested without an API server)."""
    meta = submission.metadata
    spec: dict[str, Any] = {
        "entrypoint": submission.entrypoint,
        "jobId": submission.submission_id,
        "runtimeEnvYAML": yaml.safe_dump(submission.runtime_env, sort_keys=True),
        "metadata": dict(meta),
        "shutdownAfterJobFinishes": True,
        # The head outlives the job briefly, so the planner can archive the driver's logs from it.
        "ttlSecondsAfterFinished": FINISHED_HEAD_SECONDS,
        "submissionMode": "K8sJobMode",
        "backoffLimit": 0,  # Park's planner decides retries, as on park up
        "rayClusterSpec": ray_cluster_spec(cluster, pods=pods, ray_version=ray_version),
        "submitterPodTemplate": submitter_pod_template(cluster, pods),
    }
    if submission.entrypoint_num_cpus is not None:
        spec["entrypointNumCpus"] = submission.entrypoint_num_cpus
    if submission.entrypoint_num_gpus is not None:
        spec["entrypointNumGpus"] = submission.entrypoint_num_gpus
    if submission.entrypoint_resources:
        spec["entrypointResources"] = json.dumps(submission.entrypoint_resources, sort_keys=True)
    return {
        "apiVersion": RAY_API_VERSION,
        "kind": "RayJob",
        "metadata": {
            "name": rayjob_name(submission.submission_id),
            "namespace": meta["park.dev/namespace"],
            "labels": {
                MANAGED_BY: MANAGER,
                OWNER_KIND: "ParkJob",
                OWNER_NAME: meta["park.dev/name"],
                ATTEMPT: meta["park.dev/attempt"],
            },
            "ownerReferences": [owned_by("ParkJob", meta["park.dev/name"], meta[JOB_UID])],
        },
        "spec": spec,
    }


def job_info(submission_id: str, rayjob: dict[str, Any]) -> JobInfo:
    """What Ray (through KubeRay) says of the attempt; a deployment that failed first is a failed job."""
    status = rayjob.get("status") or {}
    ray_status = str(status.get("jobStatus") or "")
    message = str(status.get("message") or "")
    if ray_status not in RAY_STATUSES:
        ray_status = "FAILED" if status.get("jobDeploymentStatus") == "Failed" else "PENDING"
        message = message or str(status.get("reason") or "")
    return JobInfo(submission_id=submission_id, status=cast(RayJobStatus, ray_status), message=message)


class KubeRayJobs:
    """The JobSubstrate of the operator (and `get_cluster`, which a job's planner asks first)."""

    def __init__(
        self,
        *,
        api_client: k8s.ApiClient,
        pods: PodTemplate,
        ray_version: str,
        objects: KubeRayObjects | None = None,
    ) -> None:
        """`objects`: how RayJobs are read and written (the operator's answer reads from a watch cache)."""
        self._objects = objects or KubeRayObjects(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self._pods = pods
        self._ray_version = ray_version

    def get_cluster(self, key: str) -> ClusterHandle:
        """Always there: a RayJob brings its own cluster, shaped by the ParkCluster the job names."""
        return ClusterHandle(key=key, dashboard_url="", gcs_address="", token="", pid=0, config=HeadConfig(0))

    def submit_job(self, handle: ClusterHandle, submission: JobSubmission) -> bool:
        namespace = namespace_of(handle)
        cluster = submission.cluster or ParkClusterSpec()
        body = rayjob_body(submission, cluster=cluster, pods=self._pods, ray_version=self._ray_version)
        _, created = self._objects.create(body)
        self._delete_earlier_attempts(namespace, submission)
        return created

    def _delete_earlier_attempts(self, namespace: str, submission: JobSubmission) -> None:
        owner = submission.metadata["park.dev/name"]
        keep = rayjob_name(submission.submission_id)
        for rayjob in self._objects.list("RayJob", namespace, {OWNER_KIND: "ParkJob", OWNER_NAME: owner}):
            name = rayjob["metadata"]["name"]
            if name != keep:
                self._objects.delete("RayJob", namespace, name)

    def get_job(self, handle: ClusterHandle, submission_id: str) -> JobInfo | None:
        rayjob = self._objects.get("RayJob", namespace_of(handle), rayjob_name(submission_id))
        return None if rayjob is None else job_info(submission_id, rayjob)

    def stop_job(self, handle: ClusterHandle, submission_id: str) -> bool:
        """Stop through Ray (the driver gets its grace period); a RayJob with no cluster yet is deleted."""
        namespace, name = namespace_of(handle), rayjob_name(submission_id)
        rayjob = self._objects.get("RayJob", namespace, name)
        if rayjob is None:
            return False
        cluster = (rayjob.get("status") or {}).get("rayClusterName")
        status = str((rayjob.get("status") or {}).get("jobStatus") or "")
        if not cluster or status not in ("PENDING", "RUNNING"):
            self._objects.delete("RayJob", namespace, name)
            return True
        try:
            self._core.connect_post_namespaced_service_proxy_with_path(
                dashboard(cluster), namespace, f"api/jobs/{submission_id}/stop"
            )
        except ApiException as exc:
            raise SubstrateUnavailableError(f"cannot reach the Ray head of {name}: {exc.reason}") from exc
        return True

    def job_logs(self, handle: ClusterHandle, submission_id: str) -> str:
        """The driver's whole log from Ray on the head, else the newest submitter pod's output."""
        namespace = namespace_of(handle)
        rayjob = self._objects.get("RayJob", namespace, rayjob_name(submission_id))
        cluster = ((rayjob or {}).get("status") or {}).get("rayClusterName")
        if cluster:
            try:
                logs = read_json(self._core, namespace, cluster, f"api/jobs/{submission_id}/logs").get("logs")
                if isinstance(logs, str):
                    return logs
            except UNREADABLE:
                logger.info("no Ray head to read %s's logs from; reading its submitter pod", submission_id)
        return self._submitter_logs(namespace, submission_id)

    def _submitter_logs(self, namespace: str, submission_id: str) -> str:
        selector = f"job-name={rayjob_name(submission_id)}"
        try:
            pods = self._core.list_namespaced_pod(namespace, label_selector=selector).items
            named = sorted(
                (p.metadata.creation_timestamp, p.metadata.name)
                for p in pods
                if p.metadata is not None and p.metadata.name and p.metadata.creation_timestamp
            )
            if not named:
                return ""
            text = self._core.read_namespaced_pod_log(named[-1][1], namespace)
        except ApiException as exc:
            raise SubstrateError(f"cannot read the logs of {submission_id}: {exc.reason}") from exc
        return text if isinstance(text, str) else ""
