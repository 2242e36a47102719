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

from park.control.costs import SHARED_HEAD, Costing, CostMemo, Layout
from park.control.scheduler import (
    BorrowWithinCohort,
    CohortName,
    FlavorName,
    FlavorQuota,
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
from park.core.flavors import ParkResourceFlavor
from park.core.resources import (
    TERMINAL_JOB_PHASES,
    Admission,
    AnyResource,
    ComputeResources,
    ParkCluster,
    ParkJob,
    ParkPriorityClass,
    ParkQueue,
    ParkService,
)

SERVICE_REPLICA = "@"  # service workload ids: <namespace>/<name>@<application>/<deployment>#<index>
WHOLE_SERVICE = "*"  # <namespace>/<name>@*#0: a service admitted whole (its own Ray cluster, on KubeRay)
CLUSTER_PREFIX = "cluster:"  # cluster workload ids: cluster:<namespace>/<name> (':' is in no DNS label)
HOLDING_PHASES = frozenset({"Submitting", "Starting", "Running", "Preempting"})


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


def _untyped(spec: ComputeResources | None) -> Resources | None:
    """A flavor's quota or limit: its gpus are the flavor's own type, so no `gpu/<accelerator>` name."""
    return limits_of(spec.model_copy(update={"accelerator": None})) if spec is not None else None


def flavor_quotas(
    queue: ParkQueue, flavors: Mapping[str, ParkResourceFlavor]
) -> tuple[tuple[FlavorQuota, ...], str | None]:
    """The queue's quota per flavor, and why it is inactive: the first flavor it names that does not exist.

    As Kueue does with a ClusterQueue whose ResourceFlavor is missing, such a queue admits nothing new
    (its admitted work keeps its quota): admitting on the other flavors would put work where its owner
    did not plan it.
    """
    quotas, missing = [], None
    for index, entry in enumerate(queue.spec.flavors):
        found = flavors.get(entry.name)
        if found is None and missing is None:
            missing = (
                f"spec.flavors[{index}].name: ParkResourceFlavor {entry.name!r} does not exist; "
                "create it, or remove it from the queue"
            )
        nominal = _untyped(entry.nominal_quota)
        assert nominal is not None
        quotas.append(
            FlavorQuota(
                name=FlavorName(entry.name),
                nominal=nominal,
                accelerator=found.spec.accelerator if found is not None else None,
                borrowing_limit=_untyped(entry.borrowing_limit),
                lending_limit=_untyped(entry.lending_limit),
            )
        )
    return tuple(quotas), missing


def queue_spec(queue: ParkQueue, flavors: Mapping[str, ParkResourceFlavor] | None = None) -> QueueSpec:
    spec = queue.spec
    policy = spec.preemption
    quotas, missing = flavor_quotas(queue, flavors or {})
    return QueueSpec(
        name=QueueName(queue.metadata.name),
        nominal=limits_of(spec.nominal_quota),
        cohort=CohortName(spec.cohort) if spec.cohort else None,
        borrowing_limit=limits_of(spec.borrowing_limit) if spec.borrowing_limit else None,
        lending_limit=limits_of(spec.lending_limit) if spec.lending_limit else None,
        weight=spec.fair_share_weight,
        strategy=QueueingStrategy(spec.queueing_strategy),
        terminating=queue.metadata.deletion_timestamp is not None,
        flavors=quotas,
        inactive=missing,
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


def _epoch(when: datetime | None, default: float) -> float:
    return when.timestamp() if when is not None else default


def workload_of(
    job: ParkJob, classes: Mapping[str, int], now: float, costing: Costing = SHARED_HEAD
) -> Workload | None:
    """The job as the engine sees it, or None when it neither holds nor wants capacity.

    It is charged whole (`park.control.costs`): every Ray node its attempt runs, admitted all or nothing.
    """
    if job.status.phase in TERMINAL_JOB_PHASES or job.metadata.deletion_timestamp is not None:
        return None
    admission = job.status.admission
    admitted = admission is not None and admission.admitted
    running = job.status.phase in HOLDING_PHASES
    if (job.spec.suspend and not running) or priority_class_problem(job, classes):
        return None
    created = _epoch(job.metadata.creation_timestamp, now)
    checkpoint_at = job.status.report.get("updatedAt") if job.status.checkpoint else None
    # A job that lost its admission holds its capacity until its Ray job is really gone.
    holds = admitted or running
    since = admission.admitted_at if admission and admission.admitted_at else job.status.submitted_at
    return Workload(
        id=workload_id(job),
        queue=QueueName(job.spec.queue),
        per_pod=costing.cost(job).total,
        priority=job_priority(job, classes),
        created_at=created,
        admitted_at=_epoch(since, now) if holds else None,
        last_checkpoint_at=float(checkpoint_at) if isinstance(checkpoint_at, int | float) else None,
        evicting=holds and (not admitted or job.spec.suspend or job.status.phase == "Preempting"),
        nominated=bool(admission and admission.nominated and not admitted),
        flavor=_flavor(admission) if holds else None,
    )


def _flavor(admission: Admission | None) -> FlavorName | None:
    return FlavorName(admission.flavor) if admission is not None and admission.flavor else None


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


def service_workloads(
    service: ParkService, classes: Mapping[str, int], now: float, costing: Costing = SHARED_HEAD
) -> list[Workload]:
    """On a shared head, one workload per replica Serve wants (or the spec asks for, before Serve reports);
    on KubeRay one workload for the service's own Ray cluster, whose nodes its replicas run in.

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
    cost = costing.cost(service)
    # Every replica runs on one flavor: the admitted ones hold it, the others may only go there.
    flavor = FlavorName(admission.flavor) if admission is not None and admission.flavor else None

    def one(key: str, index: int, per_pod: Resources, admitted: bool) -> Workload:
        return Workload(
            id=replica_id(service, key, index),
            queue=QueueName(service.spec.queue),
            per_pod=per_pod,
            priority=priority,
            created_at=_epoch(service.metadata.creation_timestamp, now),
            kind=WorkloadKind.SERVICE,
            group=service_id(service),
            admitted_at=_epoch(since, now) if admitted else None,
            preemptible=False,
            nominated=bool(admission and admission.nominated and not admitted),
            flavor=flavor,
        )

    if costing.layout is Layout.OWN_CLUSTER:
        return [one(WHOLE_SERVICE, 0, cost.total, since is not None)]
    return [
        one(part.name, index, part.each, index < granted.get(part.name, 0))
        for part in cost.parts
        for index in range(part.count)
    ]


def cluster_id(cluster: ParkCluster) -> WorkloadId:
    return WorkloadId(f"{CLUSTER_PREFIX}{cluster.metadata.namespace}/{cluster.metadata.name}")


def cluster_workload(cluster: ParkCluster, now: float, costing: Costing = SHARED_HEAD) -> Workload | None:
    """A ParkCluster that names a queue: its head and workers, admitted whole and never preempted (a
    long-lived cluster has no checkpoint to resume from). One without a queue is charged to no one."""
    queue = cluster.spec.queue
    if queue is None or cluster.metadata.deletion_timestamp is not None:
        return None
    admission = cluster.status.admission
    admitted = admission is not None and admission.admitted
    since = admission.admitted_at if admission is not None else None
    return Workload(
        id=cluster_id(cluster),
        queue=QueueName(queue),
        per_pod=costing.cost(cluster).total,
        created_at=_epoch(cluster.metadata.creation_timestamp, now),
        kind=WorkloadKind.CLUSTER,
        admitted_at=_epoch(since, now) if admitted else None,
        preemptible=False,
        nominated=bool(admission and admission.nominated and not admitted),
        flavor=_flavor(admission) if admitted else None,
    )


def _workloads(
    obj: ParkJob | ParkService | ParkCluster, classes: Mapping[str, int], now: float, costing: Costing
) -> list[Workload]:
    if isinstance(obj, ParkService):
        return service_workloads(obj, classes, now, costing)
    found = (
        workload_of(obj, classes, now, costing)
        if isinstance(obj, ParkJob)
        else cluster_workload(obj, now, costing)
    )
    return [found] if found is not None else []


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
    clusters: Iterable[ParkCluster] = (),
    layout: Layout = Layout.SHARED_HEAD,
    memo: CostMemo | None = None,
    refused: Callable[[AnyResource, str], None] = _raise,
    flavors: Iterable[ParkResourceFlavor] = (),
) -> Snapshot:
    """The engine's view of these objects, each charged what it runs where Ray runs (`layout`); the
    clusters also shape the jobs and services that name them. An object the engine refuses (a value no
    model rule caught) goes to `refused` and is left out, so it cannot stop the cycle for the others."""
    values = class_values(classes)
    clusters = list(clusters)
    costing = Costing.of(layout, clusters, memo)
    workloads: list[Workload] = []
    objects: list[ParkJob | ParkService | ParkCluster] = [*jobs, *services, *clusters]
    for obj in objects:
        try:
            workloads += _workloads(obj, values, now, costing)
        except (ValueError, ParkError) as exc:
            refused(obj, str(exc))
    specs = []
    by_name = {flavor.metadata.name: flavor for flavor in flavors}
    for queue in queues:
        try:
            specs.append(queue_spec(queue, by_name))
        except (ValueError, ParkError) as exc:
            refused(queue, str(exc))
    return Snapshot(queues=tuple(specs), workloads=tuple(workloads))
