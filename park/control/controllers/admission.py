"""Between the store and the scheduler engine: resources → a snapshot, decisions → status writes.

Admission lives in `ParkJob.status.admission`, written only here; the job controller reads it: a job
runs only while admitted, and a running job that loses admission is preempted (Preempting → Preempted,
with its checkpoint), exactly like `spec.suspend`, the lever Kueue uses on Kubernetes Jobs.

A workload waiting for admission that names a ParkPriorityClass which does not exist is left out of
the snapshot (`priority_class_problem`): it waits, told why, and everything else schedules. One that
already holds capacity keeps it, at its `spec.priority`, as a Pod keeps running when its class goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
    WorkloadKind,
)
from park.core.errors import ParkError
from park.core.resources import (
    TERMINAL_JOB_PHASES,
    AnyResource,
    ComputeResources,
    ParkJob,
    ParkPriorityClass,
    ParkQueue,
    ParkService,
)

SERVICE_REPLICA = "@"  # service workload ids: <namespace>/<name>@<application>/<deployment>#<index>
HOLDING_PHASES = frozenset({"Submitting", "Starting", "Running", "Preempting"})


def resources_of(spec: ComputeResources | None) -> Resources:
    if spec is None:
        return Resources.of()
    amounts: dict[str, float | int | str] = {
        "cpu": spec.cpu_cores(),
        "memory": spec.memory_bytes(),
        "gpu": spec.gpus(),
    }
    if spec.accelerator and spec.gpu:
        amounts[f"gpu/{spec.accelerator}"] = spec.gpu
    amounts.update(spec.custom)
    return Resources.of({k: v for k, v in amounts.items() if v})


def limits_of(spec: ComputeResources) -> Resources:
    """A quota or limit: what it names counts, zero included (`cpu: 0` or `gpu: 0` is none, not unbounded)."""
    amounts: dict[str, float | int | str] = {}
    if spec.cpu is not None:
        amounts["cpu"] = spec.cpu_cores()
    if spec.memory is not None:
        amounts["memory"] = spec.memory_bytes()
    if spec.gpu is not None:
        amounts["gpu"] = spec.gpu
        if spec.accelerator:
            amounts[f"gpu/{spec.accelerator}"] = spec.gpu
    amounts.update(spec.custom)
    return Resources.of(amounts)


def queue_spec(queue: ParkQueue) -> QueueSpec:
    spec = queue.spec
    policy = spec.preemption
    return QueueSpec(
        name=QueueName(queue.metadata.name),
        nominal=limits_of(spec.nominal_quota),
        cohort=CohortName(spec.cohort) if spec.cohort else None,
        borrowing_limit=limits_of(spec.borrowing_limit) if spec.borrowing_limit else None,
        lending_limit=limits_of(spec.lending_limit) if spec.lending_limit else None,
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


def job_priority(job: ParkJob, classes: Mapping[str, int]) -> int:
    name = job.spec.priority_class_name
    return classes.get(name, job.spec.priority) if name else job.spec.priority


def waits_for_admission(obj: ParkJob | ParkService) -> bool:
    """It asks for capacity and holds none yet: not finished, deleted or suspended, never admitted."""
    if isinstance(obj, ParkService):
        admission = obj.status.admission
        return wants_capacity(obj) and (admission is None or admission.admitted_at is None)
    if obj.status.phase in TERMINAL_JOB_PHASES or obj.metadata.deletion_timestamp is not None:
        return False
    admitted = obj.status.admission is not None and obj.status.admission.admitted
    return not (obj.spec.suspend or admitted or obj.status.phase in HOLDING_PHASES)


def priority_class_problem(obj: ParkJob | ParkService, classes: Mapping[str, int]) -> str | None:
    """Why a waiting workload cannot be admitted yet: the priority class it names does not exist."""
    name = obj.spec.priority_class_name
    if name is None or name in classes or not waits_for_admission(obj):
        return None
    return (
        f"ParkPriorityClass {name!r} does not exist: create it, or change spec.priorityClassName; "
        "until then it is not considered for admission"
    )


def job_demand(job: ParkJob) -> tuple[Resources, int]:
    """Per-replica resources and replica count; a job without `spec.resources` is its driver (≥ 1 CPU)."""
    if job.spec.resources is not None:
        return resources_of(job.spec.resources.per_replica), job.spec.resources.replicas
    driver = job.spec.entrypoint_resources
    return resources_of(ComputeResources(cpu=format(driver.cpu or 1.0, "g"), gpu=int(driver.gpu or 0))), 1


def _epoch(when: datetime | None, default: float) -> float:
    return when.timestamp() if when is not None else default


def workload_of(job: ParkJob, classes: Mapping[str, int], now: float) -> Workload | None:
    """The job as the engine sees it, or None when it neither holds nor wants capacity."""
    if job.status.phase in TERMINAL_JOB_PHASES or job.metadata.deletion_timestamp is not None:
        return None
    admission = job.status.admission
    admitted = admission is not None and admission.admitted
    running = job.status.phase in HOLDING_PHASES
    if (job.spec.suspend and not running) or priority_class_problem(job, classes):
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


def service_id(service: ParkService) -> str:
    return f"{service.metadata.namespace}/{service.metadata.name}"


def replica_id(service: ParkService, deployment: str, index: int) -> WorkloadId:
    return WorkloadId(f"{service_id(service)}{SERVICE_REPLICA}{deployment}#{index}")


def parse_replica_id(workload: WorkloadId) -> tuple[str, str] | None:
    """(service id, application/deployment) of a service replica's workload id; None for a job's."""
    if SERVICE_REPLICA not in workload:
        return None
    service, _, replica = workload.partition(SERVICE_REPLICA)
    return service, replica.rpartition("#")[0]


def wants_capacity(service: ParkService) -> bool:
    """Queued (its controller wrote the spec's estimate) or admitted once, and not being deleted."""
    if service.metadata.deletion_timestamp is not None:
        return False
    admitted = service.status.admission is not None and service.status.admission.admitted_at is not None
    return service.status.phase == "Queued" or admitted


def service_workloads(service: ParkService, classes: Mapping[str, int], now: float) -> list[Workload]:
    """One workload per replica Serve wants (or the spec asks for, before Serve reports).

    Replicas are interchangeable, so the first `admission.replicas[deployment]` of them are the admitted
    ones; replicas beyond Serve's current target are not listed, which returns their capacity. Service
    replicas are not preemptible: Park does not yet shrink a running Serve deployment (see scheduling.md).
    """
    if not wants_capacity(service) or priority_class_problem(service, classes):
        return []
    admission = service.status.admission
    granted = admission.replicas if admission is not None else {}
    since = admission.admitted_at if admission is not None and admission.admitted_at else None
    name = service.spec.priority_class_name
    priority = classes.get(name, service.spec.priority) if name else service.spec.priority
    created = _epoch(service.metadata.creation_timestamp, now)
    workloads = []
    for deployment in service.status.deployments:
        per_replica = Resources.of(dict(deployment.replica_resources))
        for index in range(deployment.target_replicas):
            admitted = index < granted.get(deployment.key, 0)
            workloads.append(
                Workload(
                    id=replica_id(service, deployment.key, index),
                    queue=QueueName(service.spec.queue),
                    per_pod=per_replica,
                    priority=priority,
                    created_at=created,
                    kind=WorkloadKind.SERVICE,
                    group=service_id(service),
                    admitted_at=_epoch(since, now) if admitted else None,
                    preemptible=False,
                    nominated=bool(admission and admission.nominated and not admitted),
                )
            )
    return workloads


def class_values(classes: Iterable[ParkPriorityClass]) -> dict[str, int]:
    return {pc.metadata.name: pc.spec.value for pc in classes}


def _raise(obj: AnyResource, problem: str) -> None:
    raise ValueError(f"{obj.key}: {problem}")


def snapshot_of(
    queues: Iterable[ParkQueue],
    jobs: Iterable[ParkJob],
    classes: Iterable[ParkPriorityClass],
    now: float,
    services: Iterable[ParkService] = (),
    *,
    refused: Callable[[AnyResource, str], None] = _raise,
) -> Snapshot:
    """The engine's view of these objects. An object the engine refuses (a value no model rule caught)
    goes to `refused` and is left out, so it cannot stop the cycle for every other object."""
    values = class_values(classes)
    workloads: list[Workload] = []
    for job in jobs:
        try:
            workload = workload_of(job, values, now)
        except (ValueError, ParkError) as exc:
            refused(job, str(exc))
            continue
        if workload is not None:
            workloads.append(workload)
    for service in services:
        try:
            workloads += service_workloads(service, values, now)
        except (ValueError, ParkError) as exc:
            refused(service, str(exc))
    specs = []
    for queue in queues:
        try:
            specs.append(queue_spec(queue))
        except (ValueError, ParkError) as exc:
            refused(queue, str(exc))
    return Snapshot(queues=tuple(specs), workloads=tuple(workloads))
