"""ParkJob: decide the next step of a job from its spec, its status and what Ray reports.

The attempt's submission id is written to status *before* the job is submitted, and Ray refuses a
second submission with the same id; so a control plane killed at any point never runs an attempt
twice. A submission Ray does not know is either not yet sent (phase Submitting: send it) or lost
with its cluster (later phases: start a new attempt; it is not the program's failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from park.control.reconcile.actions import (
    FINALIZER,
    Action,
    AddFinalizer,
    ArchiveLogs,
    Plan,
    RecordEvent,
    RemoveFinalizer,
    StopJob,
    SubmitJob,
    WriteStatus,
)
from park.core.meta import Condition, set_condition
from park.core.quantities import parse_quantity
from park.core.resources import TERMINAL_JOB_PHASES, ParkJob, ParkJobStatus
from park.substrates.interface import TERMINAL_RAY_STATUSES, ClusterHandle, JobInfo, JobSubmission

FIRST_POLL_SECONDS = 0.05
POLL_RUNNING_SECONDS = 1.0


def starting_poll_delay(job: ParkJob, now: datetime) -> float:
    """Look often right after submitting (Ray starts a driver in about a second), then back off.

    The delay is a twentieth of the time since submission, between 50 ms and 1 s, so a fast start is seen
    within tens of milliseconds and a slow one (runtime env set-up) costs a handful of calls a second.
    """
    submitted = job.status.submitted_at
    elapsed = (now - submitted).total_seconds() if submitted else 0.0
    return min(max(elapsed / 20, FIRST_POLL_SECONDS), POLL_RUNNING_SECONDS)


WAIT_FOR_CLUSTER_SECONDS = 2.0


@dataclass(frozen=True)
class JobObservation:
    cluster: ClusterHandle | None
    ray_job: JobInfo | None


def submission_id(job: ParkJob, attempt: int) -> str:
    uid = (job.metadata.uid or "").replace("-", "")[:8]
    return f"park-{job.metadata.namespace}-{job.metadata.name}-{uid}-{attempt}"


def build_submission(job: ParkJob, attempt: int) -> JobSubmission:
    driver = job.spec.entrypoint_resources
    return JobSubmission(
        submission_id=submission_id(job, attempt),
        entrypoint=job.spec.entrypoint,
        runtime_env=job.spec.runtime_env,
        entrypoint_num_cpus=driver.cpu,
        entrypoint_num_gpus=driver.gpu,
        entrypoint_memory=int(parse_quantity(driver.memory)) if driver.memory else None,
        entrypoint_resources=dict(driver.custom),
        metadata={
            "park.dev/namespace": job.metadata.namespace or "",
            "park.dev/name": job.metadata.name,
            "park.dev/attempt": str(attempt),
        },
    )


def _status(job: ParkJob, now: datetime, **changes: object) -> ParkJobStatus:
    update = {"observed_generation": job.metadata.generation, **changes}
    return job.status.model_copy(update=update)


def _new_attempt(job: ParkJob, now: datetime, *, why: str) -> list[Action]:
    attempt = job.status.attempt + 1
    submission = build_submission(job, attempt)
    status = _status(
        job,
        now,
        phase="Submitting",
        attempt=attempt,
        submission_id=submission.submission_id,
        ray_status=None,
        start_time=None,
        submitted_at=now,
        message=f"attempt {attempt}: submitting to Ray",
    )
    return [
        WriteStatus(status),
        SubmitJob(submission),
        RecordEvent(
            "Normal", "Submitted", f"attempt {attempt} submitted as {submission.submission_id} ({why})"
        ),
    ]


def _plan_deletion(job: ParkJob, active: bool) -> Plan:
    if active and job.status.submission_id:
        message = f"stopping {job.status.submission_id} before deletion"
        return Plan((StopJob(job.status.submission_id), RecordEvent("Normal", "Stopping", message)), 0.5)
    if FINALIZER in job.metadata.finalizers:
        return Plan((RemoveFinalizer(),))
    return Plan()


def _plan_suspended(job: ParkJob, now: datetime, active: bool) -> Plan:
    if active and job.status.submission_id:
        message = f"spec.suspend is true: stopping {job.status.submission_id}"
        return Plan((StopJob(job.status.submission_id), RecordEvent("Normal", "Suspending", message)), 0.5)
    if job.status.phase == "Suspended":
        return Plan()
    status = _status(job, now, phase="Suspended", message="suspended (spec.suspend is true)")
    return Plan((WriteStatus(status), RecordEvent("Normal", "Suspended", "job suspended")))


def _plan_waiting_for_cluster(job: ParkJob, now: datetime) -> Plan:
    message = f"waiting for ParkCluster {job.metadata.namespace}/{job.spec.cluster} to be ready"
    condition = Condition(type="ClusterReady", status="False", reason="ClusterNotReady", message=message)
    conditions = set_condition(job.status.conditions, condition, now=now)
    phase = job.status.phase if job.status.submission_id and job.status.phase != "Suspended" else "Pending"
    status = _status(job, now, phase=phase, message=message, conditions=conditions)
    return Plan((WriteStatus(status),), WAIT_FOR_CLUSTER_SECONDS)


def _plan_finished(job: ParkJob, ray: JobInfo, now: datetime) -> Plan:
    sid, attempt = ray.submission_id, job.status.attempt
    archive = ArchiveLogs(sid, attempt)
    done = {"ray_status": ray.status, "completion_time": now}
    if ray.status == "SUCCEEDED":
        status = _status(job, now, phase="Succeeded", message=f"attempt {attempt} succeeded", **done)
        return Plan((archive, WriteStatus(status), RecordEvent("Normal", "Succeeded", status.message or "")))
    if ray.status == "STOPPED":
        message = f"attempt {attempt} was stopped outside Park"
        status = _status(job, now, phase="Stopped", message=message, **done)
        return Plan((archive, WriteStatus(status), RecordEvent("Warning", "Stopped", message)))
    failed = job.status.failed_attempts + 1
    reason = ray.message.strip().splitlines()[-1] if ray.message.strip() else "the program failed"
    if failed <= job.spec.retries:
        job = job.model_copy(update={"status": _status(job, now, failed_attempts=failed)})
        message = f"attempt {attempt} failed: {reason}; retry {failed} of {job.spec.retries}"
        return Plan(
            (archive, RecordEvent("Warning", "AttemptFailed", message), *_new_attempt(job, now, why="retry")),
            FIRST_POLL_SECONDS,
        )
    message = f"attempt {attempt} failed: {reason}"
    status = _status(job, now, phase="Failed", message=message, failed_attempts=failed, **done)
    return Plan((archive, WriteStatus(status), RecordEvent("Warning", "Failed", message)))


def _plan_progress(job: ParkJob, ray: JobInfo, now: datetime) -> Plan:
    if ray.status == "PENDING":
        status = _status(
            job, now, phase="Starting", ray_status=ray.status, message="Ray is setting up the job"
        )
        return Plan((WriteStatus(status),), starting_poll_delay(job, now))
    start = job.status.start_time or now
    message = f"attempt {job.status.attempt} running"
    status = _status(job, now, phase="Running", ray_status=ray.status, start_time=start, message=message)
    return Plan((WriteStatus(status),), POLL_RUNNING_SECONDS)


def plan_job(job: ParkJob, observed: JobObservation, now: datetime) -> Plan:
    ray = observed.ray_job
    active = ray is not None and ray.status not in TERMINAL_RAY_STATUSES
    if job.metadata.deletion_timestamp is not None:
        return _plan_deletion(job, active)
    head: tuple[Action, ...] = () if FINALIZER in job.metadata.finalizers else (AddFinalizer(),)
    plan = _plan_body(job, observed, now, active)
    return Plan(head + plan.actions, plan.requeue_after)


def _plan_body(job: ParkJob, observed: JobObservation, now: datetime, active: bool) -> Plan:
    phase, ray = job.status.phase, observed.ray_job
    if phase in TERMINAL_JOB_PHASES:
        return Plan()
    if job.spec.suspend:
        return _plan_suspended(job, now, active)
    if observed.cluster is None:
        return _plan_waiting_for_cluster(job, now)
    ready = Condition(type="ClusterReady", status="True", reason="ClusterReady")
    job = job.model_copy(
        update={
            "status": job.status.model_copy(
                update={"conditions": set_condition(job.status.conditions, ready, now=now)}
            )
        }
    )
    if job.status.submission_id is None or phase in (None, "Pending", "Suspended"):
        return Plan(
            tuple(_new_attempt(job, now, why="first run" if job.status.attempt == 0 else "resumed")),
            FIRST_POLL_SECONDS,
        )
    if ray is None:
        if phase == "Submitting":
            submission = build_submission(job, job.status.attempt)
            return Plan((SubmitJob(submission),), starting_poll_delay(job, now))
        message = (
            f"Ray no longer knows {job.status.submission_id} (its cluster restarted); starting a new attempt"
        )
        return Plan(
            (RecordEvent("Warning", "SubmissionLost", message), *_new_attempt(job, now, why="lost")),
            FIRST_POLL_SECONDS,
        )
    if ray.status in TERMINAL_RAY_STATUSES:
        return _plan_finished(job, ray, now)
    return _plan_progress(job, ray, now)
