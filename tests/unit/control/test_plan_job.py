"""The ParkJob state machine, step by step: what the controller would do in each situation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from park.control.reconcile.actions import (
    FINALIZER,
    AddFinalizer,
    ArchiveLogs,
    RecordEvent,
    RemoveFinalizer,
    StopJob,
    SubmitJob,
    WriteStatus,
)
from park.control.reconcile.job import JobObservation
from park.control.reconcile.job import plan_job as plan_job_at
from park.control.reconcile.submission import submission_id
from park.core.meta import ObjectMeta
from park.core.resources import Admission, CheckpointPolicy, ParkJob, ParkJobSpec, WorkloadRef
from park.substrates.interface import ClusterHandle, HeadConfig, JobInfo

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HANDLE = ClusterHandle(
    key="default.default",
    dashboard_url="http://127.0.0.1:1",
    gcs_address="127.0.0.1:2",
    token="t",
    pid=1,
    config=HeadConfig(num_cpus=2),
)


def plan_job(job: ParkJob, observed: JobObservation, now: datetime):  # type: ignore[no-untyped-def]
    return plan_job_at(job, observed, now, jobs_root="/state/jobs")


def make_job(*, retries: int = 0, suspend: bool = False, **status: object) -> ParkJob:
    job = ParkJob(
        metadata=ObjectMeta(
            name="hello", namespace="default", uid="0123abcd-0000", generation=1, finalizers=[FINALIZER]
        ),
        spec=ParkJobSpec(entrypoint="python hello.py", retries=retries, suspend=suspend),
    )
    status = {"admission": Admission(admitted=True, queue="default"), **status}
    return job.model_copy(update={"status": job.status.model_copy(update=status)})


def of_type(plan_actions: tuple[object, ...], kind: type) -> list:  # type: ignore[type-arg]
    return [a for a in plan_actions if isinstance(a, kind)]


def written(plan_actions: tuple[object, ...]) -> object:
    statuses = of_type(plan_actions, WriteStatus)
    assert statuses, f"no status written in {plan_actions}"
    return statuses[-1].status


def test_new_job_writes_its_submission_id_before_submitting() -> None:
    plan = plan_job(make_job(), JobObservation(cluster=HANDLE, ray_job=None), NOW)
    kinds = [type(a) for a in plan.actions]
    assert kinds.index(WriteStatus) < kinds.index(SubmitJob)
    status = written(plan.actions)
    assert status.phase == "Submitting"
    assert status.attempt == 1
    assert status.submission_id == "park-default-hello-0123abcd-1"
    assert of_type(plan.actions, SubmitJob)[0].submission.submission_id == status.submission_id


def test_a_job_gets_the_cleanup_finalizer_first() -> None:
    job = make_job()
    job = job.model_copy(update={"metadata": job.metadata.model_copy(update={"finalizers": []})})
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=None), NOW)
    assert isinstance(plan.actions[0], AddFinalizer)


def test_waits_without_submitting_while_the_cluster_is_down() -> None:
    plan = plan_job(make_job(), JobObservation(cluster=None, ray_job=None), NOW)
    assert not of_type(plan.actions, SubmitJob)
    status = written(plan.actions)
    assert status.phase == "Pending"
    assert "waiting for ParkCluster default/default" in (status.message or "")
    assert plan.requeue_after is not None


def test_restart_while_submitting_resends_the_same_attempt() -> None:
    """Killed between writing the id and submitting: the same id is sent (Ray refuses duplicates)."""
    job = make_job(phase="Submitting", attempt=1, submission_id=submission_id(make_job(), 1))
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=None), NOW)
    submits = of_type(plan.actions, SubmitJob)
    assert [s.submission.submission_id for s in submits] == ["park-default-hello-0123abcd-1"]
    assert not of_type(plan.actions, WriteStatus)


def test_restart_while_running_adopts_the_ray_job_instead_of_resubmitting() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(phase="Submitting", attempt=1, submission_id=sid)
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "RUNNING")), NOW)
    assert not of_type(plan.actions, SubmitJob)
    status = written(plan.actions)
    assert (status.phase, status.attempt, status.start_time) == ("Running", 1, NOW)


def test_pending_in_ray_is_starting() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(phase="Submitting", attempt=1, submission_id=sid)
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "PENDING")), NOW)
    assert written(plan.actions).phase == "Starting"


def test_success_archives_logs_before_the_phase_turns_terminal() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(phase="Running", attempt=1, submission_id=sid)
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "SUCCEEDED")), NOW)
    kinds = [type(a) for a in plan.actions]
    assert kinds.index(ArchiveLogs) < kinds.index(WriteStatus)
    status = written(plan.actions)
    assert (status.phase, status.completion_time) == ("Succeeded", NOW)
    assert plan.requeue_after is None


def test_failure_with_retries_left_starts_the_next_attempt() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(retries=2, phase="Running", attempt=1, submission_id=sid)
    ray = JobInfo(sid, "FAILED", message="Job entrypoint command failed with exit code 3")
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=ray), NOW)
    status = written(plan.actions)
    assert (status.phase, status.attempt, status.failed_attempts) == ("Submitting", 2, 1)
    assert of_type(plan.actions, SubmitJob)[0].submission.submission_id.endswith("-2")
    reasons = [e.reason for e in of_type(plan.actions, RecordEvent)]
    assert "AttemptFailed" in reasons


def test_failure_without_retries_left_fails_the_job_with_ray_s_reason() -> None:
    sid = submission_id(make_job(), 2)
    job = make_job(retries=1, phase="Running", attempt=2, failed_attempts=1, submission_id=sid)
    ray = JobInfo(sid, "FAILED", message="exit code 3")
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=ray), NOW)
    status = written(plan.actions)
    assert (status.phase, status.failed_attempts) == ("Failed", 2)
    assert "exit code 3" in (status.message or "")
    assert not of_type(plan.actions, SubmitJob)


def test_a_submission_lost_with_its_cluster_is_a_new_attempt_not_a_failure() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(phase="Running", attempt=1, submission_id=sid)
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=None), NOW)
    status = written(plan.actions)
    assert (status.attempt, status.failed_attempts) == (2, 0)
    assert any(
        e.reason == "SubmissionLost" and e.type == "Warning" for e in of_type(plan.actions, RecordEvent)
    )


def test_finished_jobs_are_left_alone() -> None:
    job = make_job(phase="Succeeded", attempt=1, submission_id="x")
    assert plan_job(job, JobObservation(cluster=HANDLE, ray_job=None), NOW).actions == ()


def test_suspending_a_running_job_preempts_it_with_a_grace_period() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(suspend=True, phase="Running", attempt=1, submission_id=sid)
    preempting = plan_job(job, JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "RUNNING")), NOW)
    assert of_type(preempting.actions, StopJob) == [StopJob(sid)]
    assert written(preempting.actions).phase == "Preempting"
    assert "30s to checkpoint" in (written(preempting.actions).message or "")


def test_a_preempted_job_records_the_checkpoint_its_workload_reported() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(suspend=True, phase="Preempting", attempt=1, submission_id=sid)
    report = {"step": 40, "checkpoint": "/ckpt/step-40", "preempted": True}
    observed = JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "STOPPED"), report=report)
    plan = plan_job(job, observed, NOW)
    status = written(plan.actions)
    assert (status.phase, status.checkpoint, status.report["step"]) == ("Preempted", "/ckpt/step-40", 40)
    assert of_type(plan.actions, ArchiveLogs)


def test_a_job_that_finished_its_work_before_the_preemption_reached_it_succeeded() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(suspend=True, phase="Preempting", attempt=1, submission_id=sid)
    report = {"step": 80, "checkpoint": "/ckpt/step-80", "done": True, "preempted": False}
    observed = JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "SUCCEEDED"), report=report)
    status = written(plan_job(job, observed, NOW).actions)
    assert (status.phase, status.checkpoint) == ("Succeeded", "/ckpt/step-80")  # not resumed to do it again


def test_a_preempted_job_resumes_from_its_checkpoint_when_unsuspended() -> None:
    job = make_job(phase="Preempted", attempt=1, submission_id="old", checkpoint="/ckpt/step-40")
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=None), NOW)
    (submit,) = of_type(plan.actions, SubmitJob)
    env = submit.submission.runtime_env["env_vars"]
    assert env["PARK_RESUME_FROM"] == "/ckpt/step-40"
    assert env["PARK_ATTEMPT"] == "2"
    assert "resuming from /ckpt/step-40" in (written(plan.actions).message or "")


def test_suspending_a_job_that_never_ran_just_suspends_it() -> None:
    plan = plan_job(make_job(suspend=True), JobObservation(cluster=HANDLE, ray_job=None), NOW)
    assert written(plan.actions).phase == "Suspended"
    assert not of_type(plan.actions, StopJob)


def test_resuming_a_suspended_job_submits_a_new_attempt() -> None:
    job = make_job(phase="Suspended", attempt=1, submission_id=submission_id(make_job(), 1))
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=None), NOW)
    assert written(plan.actions).attempt == 2


def test_deleting_a_running_job_stops_it_before_releasing_the_finalizer() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(phase="Running", attempt=1, submission_id=sid)
    job = job.model_copy(update={"metadata": job.metadata.model_copy(update={"deletion_timestamp": NOW})})
    running = plan_job(job, JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "RUNNING")), NOW)
    assert of_type(running.actions, StopJob) and not of_type(running.actions, RemoveFinalizer)
    stopped = plan_job(job, JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "STOPPED")), NOW)
    assert of_type(stopped.actions, RemoveFinalizer)


def test_a_starting_job_is_polled_often_at_first_then_less() -> None:
    from datetime import timedelta  # noqa: PLC0415

    sid = submission_id(make_job(), 1)
    pending = JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "PENDING"))
    fresh = make_job(phase="Submitting", attempt=1, submission_id=sid, submitted_at=NOW)
    slow = make_job(phase="Starting", attempt=1, submission_id=sid, submitted_at=NOW - timedelta(seconds=60))
    assert plan_job(fresh, pending, NOW).requeue_after == 0.05
    assert plan_job(slow, pending, NOW).requeue_after == 1.0


def test_a_workload_runs_as_a_module_with_the_contract_in_its_environment() -> None:
    job = ParkJob(
        metadata=ObjectMeta(
            name="train", namespace="ml", uid="abcdef12-0000", generation=1, finalizers=[FINALIZER]
        ),
        spec=ParkJobSpec(
            workload=WorkloadRef(name="train", params={"steps": 100}),
            runtime_env={"env_vars": {"USER_VAR": "1"}},
            checkpoint=CheckpointPolicy(preemption_grace_seconds=45),
        ),
    )
    job.status.admission = Admission(admitted=True, queue="default")
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=None), NOW)
    (submit,) = of_type(plan.actions, SubmitJob)
    assert submit.submission.entrypoint == "python -m park.workloads.train"
    env = submit.submission.runtime_env["env_vars"]
    assert env["USER_VAR"] == "1"
    assert json.loads(env["PARK_WORKLOAD_PARAMS"]) == {"steps": 100}
    assert env["PARK_JOB_DIR"] == "/state/jobs/ml/train-abcdef12"
    assert env["PARK_CHECKPOINT_DIR"] == "/state/jobs/ml/train-abcdef12/checkpoints"
    assert env["PARK_PREEMPT_GRACE_SECONDS"] == env["RAY_JOB_STOP_WAIT_TIME_S"] == "45"
    assert "PARK_RESUME_FROM" not in env


def test_progress_reports_flow_into_the_status() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(phase="Running", attempt=1, submission_id=sid)
    report = {"step": 10, "loss": 2.5, "checkpoint": "/ckpt/step-10"}
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "RUNNING"), report=report), NOW)
    status = written(plan.actions)
    assert (status.report, status.checkpoint) == (report, "/ckpt/step-10")


def test_a_failed_evaluation_gate_fails_the_job_without_retrying() -> None:
    sid = submission_id(make_job(), 1)
    job = make_job(retries=3, phase="Running", attempt=1, submission_id=sid)
    report = {"gate": "failed", "reason": "loss 2.9 is 12% worse than baseline 2.6 (allowed 5%)"}
    observed = JobObservation(
        cluster=HANDLE, ray_job=JobInfo(sid, "FAILED", message="exit code 3"), report=report
    )
    plan = plan_job(job, observed, NOW)
    status = written(plan.actions)
    assert status.phase == "Failed"
    assert "evaluation gate failed: loss 2.9" in (status.message or "")
    assert not of_type(plan.actions, SubmitJob)
    assert [e.reason for e in of_type(plan.actions, RecordEvent)] == ["FailedGate"]


def test_a_spec_needs_exactly_one_of_entrypoint_or_workload() -> None:
    with pytest.raises(ValueError, match="exactly one of entrypoint"):
        ParkJobSpec()
    with pytest.raises(ValueError, match="exactly one of entrypoint"):
        ParkJobSpec(entrypoint="python x.py", workload=WorkloadRef(name="data"))


def test_a_job_waits_queued_until_the_scheduler_admits_it() -> None:
    waiting = Admission(
        admitted=False, queue="default", position=3, message="waiting: needs 2 cpu, 3rd in line"
    )
    plan = plan_job(make_job(admission=waiting), JobObservation(cluster=HANDLE, ray_job=None), NOW)
    assert not of_type(plan.actions, SubmitJob)
    status = written(plan.actions)
    assert (status.phase, status.message) == ("Queued", "waiting: needs 2 cpu, 3rd in line")


def test_losing_admission_while_running_preempts_the_job() -> None:
    sid = submission_id(make_job(), 1)
    lost = Admission(admitted=False, queue="default", message="preempted by ml/urgent: needed 2 cpu")
    job = make_job(phase="Running", attempt=1, submission_id=sid, admission=lost)
    plan = plan_job(job, JobObservation(cluster=HANDLE, ray_job=JobInfo(sid, "RUNNING")), NOW)
    assert of_type(plan.actions, StopJob) == [StopJob(sid)]
    assert written(plan.actions).phase == "Preempting"
