"""Between the store and the scheduler engine: resources → a snapshot, decisions → status writes.

Admission lives in `ParkJob.status.admission`, written only here; the job controller reads it: a job
runs only while admitted, and a running job that loses admission is preempted (Preempting → Preempted,
with its checkpoint), exactly like `spec.suspend`, the lever Kueue uses on Kubernetes Jobs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from park.control.scheduler import (
    BorrowWithinCohort,
    CohortName,
    PreemptionPolicy,
    QueueingStrategy,
    QueueName,
    QueueSpec,
    ReclaimWithinCohort,
    Resources,
    Snapshot,
    WithinQueue,
    Workload,
    WorkloadId,
)
from park.core.resources import TERMINAL_JOB_PHASES, ComputeResources, ParkJob, ParkPriorityClass, ParkQueue


def resources_of(spec: ComputeResources | None) -> Resources:
    if spec is None:
        return Resources.of()
    amounts: dict[str, float | int | str] = {
        "cpu": spec.cpu_cores(),
        "memory": spec.memory_bytes(),
        "gpu": spec.gpu,
    }
    if spec.accelerator and spec.gpu:
        amounts[f"gpu/{spec.accelerator}"] = spec.gpu
    amounts.update(spec.custom)
    return Resources.of({k: v for k, v in amounts.items() if v})


def queue_spec(queue: ParkQueue) -> QueueSpec:
    spec = queue.spec
    policy = spec.preemption
    return QueueSpec(
        name=QueueName(queue.metadata.name),
        nominal=resources_of(spec.nominal_quota),
        cohort=CohortName(spec.cohort) if spec.cohort else None,
        borrowing_limit=resources_of(spec.borrowing_limit) if spec.borrowing_limit else None,
        lending_limit=resources_of(spec.lending_limit) if spec.lending_limit else None,
        weight=spec.fair_share_weight,
        strategy=QueueingStrategy(spec.queueing_strategy),
        preemption=PreemptionPolicy(
            within_queue=WithinQueue(policy.within_queue),
            reclaim_within_cohort=ReclaimWithinCohort(policy.reclaim_within_cohort),
            borrow_within_cohort=BorrowWithinCohort(policy.borrow_within_cohort),
            max_priority_threshold=policy.max_priority_threshold,
        ),
    )


def workload_id(job: ParkJob) -> WorkloadId:
    return WorkloadId(f"{job.metadata.namespace}/{job.metadata.name}")


def job_priority(job: ParkJob, classes: dict[str, int]) -> int:
    name = job.spec.priority_class_name
    return classes.get(name, job.spec.priority) if name else job.spec.priority


def job_demand(job: ParkJob) -> tuple[Resources, int]:
    """Per-replica resources and replica count; a job without `spec.resources` is its driver (≥ 1 CPU)."""
    if job.spec.resources is not None:
        return resources_of(job.spec.resources.per_replica), job.spec.resources.replicas
    driver = job.spec.entrypoint_resources
    return resources_of(ComputeResources(cpu=format(driver.cpu or 1.0, "g"), gpu=int(driver.gpu or 0))), 1


def _epoch(when: datetime | None, default: float) -> float:
    return when.timestamp() if when is not None else default


def workload_of(job: ParkJob, classes: dict[str, int], now: float) -> Workload | None:
    """The job as the engine sees it, or None when it neither holds nor wants capacity."""
    if job.status.phase in TERMINAL_JOB_PHASES or job.metadata.deletion_timestamp is not None:
        return None
    admission = job.status.admission
    admitted = admission is not None and admission.admitted
    running = job.status.phase in ("Submitting", "Starting", "Running", "Preempting")
    if job.spec.suspend and not running:
        return None
    per_pod, pods = job_demand(job)
    created = _epoch(job.metadata.creation_timestamp, now)
    checkpoint_at = job.status.report.get("updatedAt") if job.status.checkpoint else None
    # A job that lost its admission holds its capacity until its Ray job is really gone.
    holds = admitted or running
    since = admission.admitted_at if admission and admission.admitted_at else job.status.submitted_at
    return Workload(
        id=workload_id(job),
        queue=QueueName(job.spec.queue),
        per_pod=per_pod,
        pods=pods,
        priority=job_priority(job, classes),
        created_at=created,
        admitted_at=_epoch(since, now) if holds else None,
        last_checkpoint_at=float(checkpoint_at) if isinstance(checkpoint_at, int | float) else None,
        evicting=holds and (not admitted or job.spec.suspend or job.status.phase == "Preempting"),
        nominated=bool(admission and admission.nominated and not admitted),
    )


def snapshot_of(
    queues: Iterable[ParkQueue], jobs: Iterable[ParkJob], classes: Iterable[ParkPriorityClass], now: float
) -> Snapshot:
    values = {pc.metadata.name: pc.spec.value for pc in classes}
    workloads = tuple(w for w in (workload_of(job, values, now) for job in jobs) if w is not None)
    return Snapshot(queues=tuple(queue_spec(q) for q in queues), workloads=workloads)
