"""ParkJob: decide the next step of a job from its spec, its status and what Ray reports.

The attempt's submission id is written to status *before* the job is submitted, and Ray refuses a
second submission with the same id; so a control plane killed at any point never runs an attempt
twice. A submission Ray does not know is either not yet sent (phase Submitting: send it) or lost
with its cluster (later phases: start a new attempt; it is not the program's failure).

A job runs only while the scheduler admits it (`status.admission`); until then it is Queued.
Preemption uses the suspend lever (as Kueue does): `spec.suspend`, or a lost admission, on a running
job means Preempting: Ray stops the job (SIGTERM, then SIGKILL after the grace period), the workload
checkpoints, and the job becomes Preempted with the checkpoint it reported. Un-suspending (or being
admitted again) starts a new attempt resuming from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
from park.control.reconcile.submission import build_submission
from park.core.meta import Condition, set_condition
from park.core.resources import TERMINAL_JOB_PHASES, ParkClusterSpec, ParkJob, ParkJobStatus
from park.substrates.interface import TERMINAL_RAY_STATUSES, ClusterHandle, JobInfo

FIRST_POLL_SECONDS = 0.05
POLL_RUNNING_SECONDS = 1.0
WAIT_FOR_CLUSTER_SECONDS = 2.0
ATTEMPT_PHASES = frozenset({"Submitting", "Starting", "Running", "Preempting"})
NEW_ATTEMPT_PHASES = frozenset({None, "Pending", "Suspended", "Preempted"})


@dataclass(frozen=True)
class JobObservation:
    cluster: ClusterHandle | None
    ray_job: JobInfo | None
    report: dict[str, Any] | None = None
    template: ParkClusterSpec | None = None
    """The spec of the ParkCluster the job names (None when there is none): it shapes a per-job cluster."""


@dataclass(frozen=True)
class _Context:
    """What every step of one planning pass needs."""

    job: ParkJob
    observed: JobObservation
    now: datetime
    jobs_root: str
    federation_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        ray = self.observed.ray_job
        return ray is not None and ray.status not in TERMINAL_RAY_STATUSES

    def status(self, **changes: object) -> ParkJobStatus:
        return self.job.status.model_copy(
            update={"observed_generation": self.job.metadata.generation, **changes}
        )

    def with_job(self, job: ParkJob) -> _Context:
        return _Context(job, self.observed, self.now, self.jobs_root, self.federation_env)


def starting_poll_delay(job: ParkJob, now: datetime) -> float:
    """Look often right after submitting (Ray starts a driver in about a second), then back off.

    The delay is a twentieth of the time since submission, between 50 ms and 1 s, so a fast start is seen
    within tens of milliseconds and a slow one (runtime env set-up) costs a handful of calls a second.
    """
    submitted = job.status.submitted_at
    elapsed = (now - submitted).total_seconds() if submitted else 0.0
    return min(max(elapsed / 20, FIRST_POLL_SECONDS), POLL_RUNNING_SECONDS)


def _new_attempt(ctx: _Context, *, why: str) -> list[Action]:
    attempt = ctx.job.status.attempt + 1
    submission = build_submission(
        ctx.job,
        attempt,
        jobs_root=ctx.jobs_root,
        federation_env=ctx.federation_env,
        template=ctx.observed.template,
    )
    resume = f", resuming from {ctx.job.status.checkpoint}" if ctx.job.status.checkpoint else ""
    status = ctx.status(
        phase="Submitting",
        attempt=attempt,
        submission_id=submission.submission_id,
        ray_status=None,
        start_time=None,
        submitted_at=ctx.now,
        message=f"attempt {attempt}: submitting to Ray{resume}",
    )
    message = f"attempt {attempt} submitted as {submission.submission_id} ({why}{resume})"
    return [WriteStatus(status), SubmitJob(submission), RecordEvent("Normal", "Submitted", message)]


def _plan_deletion(ctx: _Context) -> Plan:
    sid = ctx.job.status.submission_id
    if ctx.active and sid:
        return Plan((StopJob(sid), RecordEvent("Normal", "Stopping", f"stopping {sid} before deletion")), 0.5)
    return Plan((RemoveFinalizer(),)) if FINALIZER in ctx.job.metadata.finalizers else Plan()


def _plan_held(ctx: _Context, *, idle_phase: str, idle_message: str) -> Plan:
    """The job must not run now (suspended, or not admitted): preempt what runs, else wait in `idle_phase`."""
    job, sid = ctx.job, ctx.job.status.submission_id
    if ctx.active and sid:
        if job.status.phase == "Preempting":
            return Plan((), 0.5)
        grace = job.spec.checkpoint.preemption_grace_seconds
        message = f"preempting attempt {job.status.attempt}: {grace}s to checkpoint, then it is stopped"
        actions = (
            WriteStatus(ctx.status(phase="Preempting", message=message)),
            StopJob(sid),
            RecordEvent("Normal", "Preempting", message),
        )
        return Plan(actions, 0.5)
    if job.status.phase in ATTEMPT_PHASES:
        ray = ctx.observed.ray_job
        if ray is not None and ray.status == "SUCCEEDED":
            return _plan_finished(ctx, ray)  # its work was done before the preemption reached it
        return _preempted(ctx)
    if job.status.phase == "Preempted" or (job.status.phase, job.status.message) == (
        idle_phase,
        idle_message,
    ):
        return Plan()
    idle: list[Action] = [WriteStatus(ctx.status(phase=idle_phase, message=idle_message))]
    if idle_phase == "Suspended":
        idle.append(RecordEvent("Normal", "Suspended", "job suspended"))
    return Plan(tuple(idle))


def _preempted(ctx: _Context) -> Plan:
    job, attempt = ctx.job, ctx.job.status.attempt
    checkpoint = job.status.checkpoint
    where = f"resumes from {checkpoint}" if checkpoint else "no checkpoint was reported: it will start over"
    message = f"attempt {attempt} preempted; {where}"
    actions: list[Action] = []
    if job.status.submission_id and ctx.observed.ray_job is not None:
        actions.append(ArchiveLogs(job.status.submission_id, attempt))
    status = ctx.status(
        phase="Preempted", message=message, ray_status=ctx.observed.ray_job and ctx.observed.ray_job.status
    )
    actions += [WriteStatus(status), RecordEvent("Normal", "Preempted", message)]
    return Plan(tuple(actions))


def _plan_waiting_for_cluster(ctx: _Context) -> Plan:
    job = ctx.job
    message = f"waiting for ParkCluster {job.metadata.namespace}/{job.spec.cluster} to be ready"
    condition = Condition(type="ClusterReady", status="False", reason="ClusterNotReady", message=message)
    conditions = set_condition(job.status.conditions, condition, now=ctx.now)
    phase = job.status.phase if job.status.phase in ATTEMPT_PHASES else job.status.phase or "Pending"
    if phase == "Suspended":
        phase = "Pending"
    return Plan(
        (WriteStatus(ctx.status(phase=phase, message=message, conditions=conditions)),),
        WAIT_FOR_CLUSTER_SECONDS,
    )


def _plan_finished(ctx: _Context, ray: JobInfo) -> Plan:
    job, attempt = ctx.job, ctx.job.status.attempt
    archive = ArchiveLogs(ray.submission_id, attempt)
    done = {"ray_status": ray.status, "completion_time": ctx.now}
    gate = job.status.report.get("gate")
    if gate == "failed":
        message = (
            f"evaluation gate failed: {job.status.report.get('reason') or 'regression beyond threshold'}"
        )
        status = ctx.status(phase="Failed", message=message, **done)
        return Plan((archive, WriteStatus(status), RecordEvent("Warning", "FailedGate", message)))
    if ray.status == "SUCCEEDED":
        status = ctx.status(phase="Succeeded", message=f"attempt {attempt} succeeded", **done)
        return Plan((archive, WriteStatus(status), RecordEvent("Normal", "Succeeded", status.message or "")))
    if ray.status == "STOPPED":
        if job.status.phase == "Preempting":
            return _preempted(ctx)
        message = f"attempt {attempt} was stopped outside Park"
        status = ctx.status(phase="Stopped", message=message, **done)
        return Plan((archive, WriteStatus(status), RecordEvent("Warning", "Stopped", message)))
    return _plan_failed(ctx, ray, archive)


def _plan_failed(ctx: _Context, ray: JobInfo, archive: ArchiveLogs) -> Plan:
    job, attempt = ctx.job, ctx.job.status.attempt
    failed = job.status.failed_attempts + 1
    reason = ray.message.strip().splitlines()[-1] if ray.message.strip() else "the program failed"
    if failed <= job.spec.retries:
        retry = ctx.with_job(job.model_copy(update={"status": ctx.status(failed_attempts=failed)}))
        message = f"attempt {attempt} failed: {reason}; retry {failed} of {job.spec.retries}"
        actions = (
            archive,
            RecordEvent("Warning", "AttemptFailed", message),
            *_new_attempt(retry, why="retry"),
        )
        return Plan(actions, FIRST_POLL_SECONDS)
    message = f"attempt {attempt} failed: {reason}"
    status = ctx.status(
        phase="Failed",
        message=message,
        failed_attempts=failed,
        ray_status=ray.status,
        completion_time=ctx.now,
    )
    return Plan((archive, WriteStatus(status), RecordEvent("Warning", "Failed", message)))


def _plan_progress(ctx: _Context, ray: JobInfo) -> Plan:
    job = ctx.job
    if ray.status == "PENDING":
        status = ctx.status(phase="Starting", ray_status=ray.status, message="Ray is setting up the job")
        return Plan((WriteStatus(status),), starting_poll_delay(job, ctx.now))
    message = f"attempt {job.status.attempt} running"
    status = ctx.status(
        phase="Running", ray_status=ray.status, start_time=job.status.start_time or ctx.now, message=message
    )
    return Plan((WriteStatus(status),), POLL_RUNNING_SECONDS)


def _absorb_report(job: ParkJob, report: dict[str, Any] | None) -> ParkJob:
    """The workload's report (progress, metrics, latest checkpoint) becomes part of the status."""
    if not report or report == job.status.report:
        return job
    checkpoint = report.get("checkpoint")
    update: dict[str, object] = {"report": report}
    if isinstance(checkpoint, str) and checkpoint:
        update["checkpoint"] = checkpoint
    return job.model_copy(update={"status": job.status.model_copy(update=update)})


def plan_job(
    job: ParkJob,
    observed: JobObservation,
    now: datetime,
    *,
    jobs_root: str,
    federation_env: Mapping[str, str] | None = None,
    finalizer: bool = True,
) -> Plan:
    """`finalizer`: hold a deleted job until its Ray job is stopped (where nothing else stops it)."""
    ctx = _Context(job, observed, now, jobs_root, federation_env or {})
    if job.metadata.deletion_timestamp is not None:
        return _plan_deletion(ctx)
    held = not finalizer or FINALIZER in job.metadata.finalizers
    head: tuple[Action, ...] = () if held else (AddFinalizer(),)
    plan = _plan_body(ctx.with_job(_absorb_report(job, observed.report)))
    return Plan(head + plan.actions, plan.requeue_after)


def _plan_body(ctx: _Context) -> Plan:
    job, ray = ctx.job, ctx.observed.ray_job
    if job.status.phase in TERMINAL_JOB_PHASES:
        return Plan()
    if ray is not None and ray.status in ("SUCCEEDED", "FAILED"):
        return _plan_finished(ctx, ray)  # finished before a suspend could stop it
    if job.spec.suspend:
        return _plan_held(ctx, idle_phase="Suspended", idle_message="suspended (spec.suspend is true)")
    admission = job.status.admission
    if admission is None or not admission.admitted:
        message = admission.message if admission and admission.message else "waiting for admission"
        return _plan_held(ctx, idle_phase="Queued", idle_message=message)
    if ctx.observed.cluster is None:
        return _plan_waiting_for_cluster(ctx)
    ready = Condition(type="ClusterReady", status="True", reason="ClusterReady")
    conditions = set_condition(job.status.conditions, ready, now=ctx.now)
    ctx = ctx.with_job(
        job.model_copy(update={"status": job.status.model_copy(update={"conditions": conditions})})
    )
    if job.status.submission_id is None or job.status.phase in NEW_ATTEMPT_PHASES:
        why = {None: "first run", "Preempted": "resumed after preemption"}.get(job.status.phase, "resumed")
        return Plan(
            tuple(_new_attempt(ctx, why=why if job.status.attempt else "first run")), FIRST_POLL_SECONDS
        )
    if ray is None:
        return _plan_unknown_to_ray(ctx)
    if ray.status in TERMINAL_RAY_STATUSES:
        return _plan_finished(ctx, ray)
    return _plan_progress(ctx, ray)


def _plan_unknown_to_ray(ctx: _Context) -> Plan:
    job = ctx.job
    if job.status.phase == "Submitting":
        submission = build_submission(
            job,
            job.status.attempt,
            jobs_root=ctx.jobs_root,
            federation_env=ctx.federation_env,
            template=ctx.observed.template,
        )
        return Plan((SubmitJob(submission),), starting_poll_delay(job, ctx.now))
    message = (
        f"Ray no longer knows {job.status.submission_id} (its cluster restarted); starting a new attempt"
    )
    actions = (RecordEvent("Warning", "SubmissionLost", message), *_new_attempt(ctx, why="lost"))
    return Plan(actions, FIRST_POLL_SECONDS)
