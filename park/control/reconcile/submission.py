"""What Ray receives for one attempt of a ParkJob: entrypoint, runtime env, and the workload contract.

The contract (documented in `park.workloads.contract`) travels as environment variables in the job's
runtime env, so Ray hands it to the driver and to every task and actor of the job alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from park.core.quantities import parse_quantity
from park.core.resources import ParkClusterSpec, ParkJob
from park.substrates.interface import JobSubmission
from park.substrates.kuberay_specs import job_cluster_spec
from park.workloads import artifacts


@dataclass(frozen=True)
class JobPaths:
    job_dir: str
    checkpoint_dir: str


def submission_id(job: ParkJob, attempt: int) -> str:
    return f"park-{job.metadata.namespace}-{job.metadata.name}-{_uid8(job)}-{attempt}"


def _uid8(job: ParkJob) -> str:
    return (job.metadata.uid or "").replace("-", "")[:8]


def job_paths(job: ParkJob, jobs_root: str) -> JobPaths:
    """One directory per job object (a re-created job with the same name gets a new one), under
    `jobs_root`: a directory on park up, an `s3://` URI on Kubernetes."""
    job_dir = artifacts.join(jobs_root, job.metadata.namespace or "_", f"{job.metadata.name}-{_uid8(job)}")
    checkpoint_dir = job.spec.checkpoint.storage or artifacts.join(job_dir, "checkpoints")
    return JobPaths(job_dir=job_dir, checkpoint_dir=checkpoint_dir)


def contract_env(job: ParkJob, attempt: int, paths: JobPaths) -> dict[str, str]:
    grace = job.spec.checkpoint.preemption_grace_seconds
    env = {
        "PARK_JOB_NAMESPACE": job.metadata.namespace or "",
        "PARK_JOB_NAME": job.metadata.name,
        "PARK_ATTEMPT": str(attempt),
        "PARK_JOB_DIR": paths.job_dir,
        "PARK_CHECKPOINT_DIR": paths.checkpoint_dir,
        "PARK_PREEMPT_GRACE_SECONDS": str(grace),
        # Ray's job supervisor waits this long between SIGTERM and SIGKILL when the job is stopped.
        "RAY_JOB_STOP_WAIT_TIME_S": str(grace),
    }
    if job.status.checkpoint:
        env["PARK_RESUME_FROM"] = job.status.checkpoint
    if job.spec.workload is not None:
        env["PARK_WORKLOAD_PARAMS"] = json.dumps(job.spec.workload.params, sort_keys=True)
    return env


def build_submission(
    job: ParkJob,
    attempt: int,
    *,
    jobs_root: str,
    federation_env: Mapping[str, str] | None = None,
    template: ParkClusterSpec | None = None,
) -> JobSubmission:
    """`federation_env` (where the federation API is, and its token) reaches federated jobs only;
    `template` is the spec of the ParkCluster the job names, which shapes a per-job cluster."""
    spec, driver = job.spec, job.spec.entrypoint_resources
    entrypoint = spec.entrypoint or f"python -m park.workloads.{spec.workload.name}"  # type: ignore[union-attr]
    user_env = dict(spec.runtime_env.get("env_vars") or {})
    env = {**user_env, **contract_env(job, attempt, job_paths(job, jobs_root))}
    if spec.placement == "federated":
        env.update({**(federation_env or {}), "PARK_PLACEMENT": "federated"})
    return JobSubmission(
        submission_id=submission_id(job, attempt),
        entrypoint=entrypoint,
        runtime_env={**spec.runtime_env, "env_vars": env},
        entrypoint_num_cpus=driver.cpu,
        entrypoint_num_gpus=driver.gpu,
        entrypoint_memory=int(parse_quantity(driver.memory)) if driver.memory else None,
        entrypoint_resources=dict(driver.custom),
        metadata={
            "park.dev/namespace": job.metadata.namespace or "",
            "park.dev/name": job.metadata.name,
            "park.dev/uid": job.metadata.uid or "",
            "park.dev/attempt": str(attempt),
        },
        cluster=job_cluster_spec(job, template),
    )
