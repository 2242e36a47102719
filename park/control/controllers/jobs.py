"""The ParkJob controller: observes Ray, asks `plan_job` what to do, and does it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from park.control.controllers.effects import ObjectWriter
from park.control.logs import LogArchive
from park.control.metrics import JOB_SUBMISSIONS
from park.control.reconcile.actions import ArchiveLogs, RecordEvent, StopJob, SubmitJob, WriteStatus
from park.control.reconcile.cluster import cluster_key
from park.control.reconcile.job import JobObservation, plan_job
from park.control.reconcile.submission import job_paths
from park.control.store import Store
from park.core.clock import Clock
from park.core.errors import NotFoundError, SubstrateError, SubstrateUnavailableError
from park.core.resources import TERMINAL_JOB_PHASES, ParkCluster, ParkClusterSpec, ParkJob, ResourceKey
from park.substrates.interface import TERMINAL_RAY_STATUSES, ClusterHandle, JobRunner
from park.workloads import artifacts
from park.workloads.contract import REPORT_FILE

logger = logging.getLogger(__name__)


class JobReconciler:
    kind = "ParkJob"

    def __init__(
        self,
        *,
        store: Store,
        substrate: JobRunner,
        archive: LogArchive,
        clock: Clock,
        jobs_root: Path | str,
        federation_env: Callable[[], dict[str, str]] = dict,
        finalizer: bool = True,
        least_poll_seconds: float = 0.0,
    ) -> None:
        """`federation_env`: where federated jobs find the federation API (see ParkJobSpec.placement).
        `finalizer`: hold a deleted job until its Ray job is stopped; not needed where the substrate's
        objects are owned by the job (Kubernetes' garbage collector stops them).
        `least_poll_seconds`: look again no sooner than this unless told of a change; where the substrate's
        changes reach the controller as events (KubeRay's watch), polling is only for the job's report."""
        self._finalizer = finalizer
        self._least_poll = least_poll_seconds
        self._federation_env = federation_env
        self._store = store
        self._substrate = substrate
        self._archive = archive
        self._clock = clock
        self._jobs_root = str(jobs_root)

    async def reconcile(self, key: ResourceKey) -> float | None:
        try:
            job = self._store.get(key.kind, key.namespace, key.name)
        except NotFoundError:
            return None
        assert isinstance(job, ParkJob)
        observed = await asyncio.to_thread(self._observe, job)
        federation_env = self._federation_env() if job.spec.placement == "federated" else None
        plan = plan_job(
            job,
            observed,
            self._clock.now(),
            jobs_root=self._jobs_root,
            federation_env=federation_env,
            finalizer=self._finalizer,
        )
        writer = ObjectWriter(self._store, job)
        for action in plan.actions:
            if await asyncio.to_thread(writer.apply, action):  # off the loop: other keys go on
                continue
            assert observed.cluster is not None, "Ray actions are planned only when the cluster runs"
            await self._act(writer, observed.cluster, action)
        if plan.requeue_after is None:
            return None
        return max(plan.requeue_after, self._least_poll)

    def _observe(self, job: ParkJob) -> JobObservation:
        handle = self._substrate.get_cluster(cluster_key(job.metadata.namespace, job.spec.cluster))
        sid = job.status.submission_id
        if job.status.phase in TERMINAL_JOB_PHASES:
            return JobObservation(cluster=handle, ray_job=None)
        if sid is None:
            return JobObservation(cluster=handle, ray_job=None, template=self._template(job))
        report = self._read_report(job)
        ray_job = self._substrate.get_job(handle, sid) if handle is not None else None
        # The template shapes a submission only: an attempt that runs needs none (one read fewer per poll).
        settled = ray_job is not None and ray_job.status not in TERMINAL_RAY_STATUSES
        steady = settled and job.status.phase in ("Starting", "Running", "Preempting")
        template = None if steady else self._template(job)
        return JobObservation(cluster=handle, ray_job=ray_job, report=report, template=template)

    def _template(self, job: ParkJob) -> ParkClusterSpec | None:
        try:
            cluster = self._store.get("ParkCluster", job.metadata.namespace, job.spec.cluster)
        except NotFoundError:
            return None
        return cluster.spec if isinstance(cluster, ParkCluster) else None

    def _read_report(self, job: ParkJob) -> dict[str, Any] | None:
        """The workload's report.json (see park.workloads.contract); a torn or missing one is no report."""
        return artifacts.read_json(artifacts.join(job_paths(job, self._jobs_root).job_dir, REPORT_FILE))

    async def _act(self, writer: ObjectWriter, handle: ClusterHandle, action: object) -> None:
        match action:
            case SubmitJob(submission=submission):
                try:
                    if await asyncio.to_thread(self._substrate.submit_job, handle, submission):
                        JOB_SUBMISSIONS.inc()
                except SubstrateUnavailableError:
                    raise
                except SubstrateError as exc:
                    self._reject(writer, f"Ray rejected the submission: {exc}")
            case StopJob(submission_id=sid):
                await asyncio.to_thread(self._substrate.stop_job, handle, sid)
            case ArchiveLogs(submission_id=sid, attempt=attempt):
                try:
                    text = await asyncio.to_thread(self._substrate.job_logs, handle, sid)
                except SubstrateUnavailableError:
                    raise  # the head is back soon: archive then
                except SubstrateError as exc:  # logs are worth keeping, never worth holding a job back
                    logger.warning("%s: %s", writer.obj.key, exc)
                    text = f"(the logs of attempt {attempt} could not be read: {exc})\n"
                self._archive.save(writer.obj.metadata.uid or "", attempt, text)
            case _:
                raise TypeError(f"unexpected action {action!r}")

    def _reject(self, writer: ObjectWriter, message: str) -> None:
        """A submission Ray refuses (bad runtime env, missing working_dir) fails the job for good."""
        now = self._clock.now()
        status = writer.obj.status.model_copy(
            update={"phase": "Failed", "message": message, "completion_time": now}
        )
        writer.apply(WriteStatus(status))
        writer.apply(RecordEvent("Warning", "SubmissionRejected", message))
