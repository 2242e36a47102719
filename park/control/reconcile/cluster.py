"""ParkCluster: keep a Ray cluster running with the resources the spec declares, on either substrate.

One planner for both: the substrate (park.substrates.interface.ClusterRunner) says whether a cluster of
this ParkCluster runs, was made from the current spec, and is ready, starting (with its progress) or
failed (with the reason); the plan says what to declare or stop and what the status and events are.
On `park up` every worker group of the spec lands on one local head, so the head advertises the
cluster's total resources; on Kubernetes the cluster is a KubeRay RayCluster, head and worker groups.
A cluster that names a queue runs only once the scheduler admitted it (`may_run`, on both substrates).
"""

from __future__ import annotations

from datetime import datetime

from park.control.reconcile.actions import (
    FINALIZER,
    Action,
    AddFinalizer,
    EnsureCluster,
    Plan,
    RecordEvent,
    RemoveFinalizer,
    StopCluster,
    WriteStatus,
)
from park.core.meta import Condition, set_condition
from park.core.resources import ParkCluster, ParkClusterStatus
from park.substrates.interface import ClusterDeclaration, ClusterObservation, HeadConfig

__all__ = ["ClusterObservation", "cluster_key", "declaration", "head_config", "may_run", "plan_cluster"]


def cluster_key(namespace: str | None, name: str) -> str:
    return f"{namespace}.{name}"


def head_config(cluster: ParkCluster) -> HeadConfig:
    total = cluster.spec.total_resources()
    return HeadConfig(
        num_cpus=total.cpu_cores() or 1.0,
        num_gpus=total.gpus(),
        memory_bytes=total.memory_bytes() or None,
        custom_resources=dict(total.custom),
    )


def declaration(cluster: ParkCluster) -> ClusterDeclaration:
    """What the substrate builds and compares what runs against."""
    return ClusterDeclaration(owner=cluster, total=head_config(cluster))


def _status(
    cluster: ParkCluster,
    now: datetime,
    *,
    ready: bool,
    seen: tuple[Condition, ...] = (),
    **changes: object,
) -> ParkClusterStatus:
    """`seen`: the substrate's own conditions, merged in (transition times move only when one flips)."""
    reason = "HeadReady" if ready else "HeadNotReady"
    conditions = cluster.status.conditions
    for condition in (*seen, Condition(type="Ready", status="True" if ready else "False", reason=reason)):
        conditions = set_condition(conditions, condition, now=now)
    update = {"observed_generation": cluster.metadata.generation, "conditions": conditions, **changes}
    return cluster.status.model_copy(update=update)


def may_run(cluster: ParkCluster) -> bool:
    """Platform capacity (no `spec.queue`) runs at once; a cluster charged to a queue once admitted.

    Clusters are never preempted, so a charged cluster loses its admission only by being re-queued
    (a queue added to a running cluster): like a suspended workload it stops until admitted again.
    """
    admission = cluster.status.admission
    return cluster.spec.queue is None or (admission is not None and admission.admitted)


def queued_status(cluster: ParkCluster, now: datetime) -> ParkClusterStatus:
    """A charged cluster's status until admitted (both substrates): Queued, with the scheduler's reason."""
    admission = cluster.status.admission
    message = (
        admission.message if admission is not None and admission.message else "waiting for the scheduler"
    )
    return _status(
        cluster, now, ready=False, phase="Queued", message=message,
        dashboard_url=None, address=None, resources={}, started_at=None,
    )  # fmt: skip


def _queued(
    cluster: ParkCluster, observed: ClusterObservation, now: datetime, head: tuple[Action, ...]
) -> Plan:
    stop: tuple[Action, ...] = ()
    if observed.handle is not None:  # re-queued (a queue added to it): like a suspended workload, it stops
        message = "stopping the Ray cluster until the scheduler admits it"
        stop = (RecordEvent("Normal", "Stopping", message), StopCluster())
    # The scheduler's admission is a change of the object: it reconciles again then, no requeue.
    return Plan((*head, *stop, WriteStatus(queued_status(cluster, now))))


def plan_cluster(
    cluster: ParkCluster,
    observed: ClusterObservation,
    now: datetime,
    *,
    check_every: float | None,
    finalizer: bool = True,
) -> Plan:
    """`check_every`: look again this often while nothing is told of a change (None: only on a change,
    where a watch on the substrate's objects wakes the controller). `finalizer`: hold a deleted cluster
    until it is stopped; not needed where what runs is owned by it (Kubernetes' garbage collector)."""
    if cluster.metadata.deletion_timestamp is not None:
        actions: tuple[Action, ...] = (StopCluster(),)
        if FINALIZER in cluster.metadata.finalizers:
            actions += (RemoveFinalizer(),)
        return Plan(actions)
    head: tuple[Action, ...] = (
        () if not finalizer or FINALIZER in cluster.metadata.finalizers else (AddFinalizer(),)
    )
    if not may_run(cluster):
        return _queued(cluster, observed, now, head)
    if observed.handle is not None and observed.current:
        return Plan((*head, *_running(cluster, observed, now)), check_every)
    if observed.handle is None and observed.readiness == "Failed":
        return Plan((*head, *_failed(cluster, observed, now)), check_every)
    return _start(cluster, observed, now, head)


def _running(cluster: ParkCluster, observed: ClusterObservation, now: datetime) -> tuple[Action, ...]:
    """A cluster made from the current spec: Ready, or still starting, or failed, as the substrate says."""
    handle = observed.handle
    assert handle is not None
    if observed.readiness == "Failed":
        return _failed(cluster, observed, now)
    ready = observed.readiness == "Ready"
    status = _status(
        cluster,
        now,
        ready=ready,
        seen=observed.conditions,
        phase="Ready" if ready else "Starting",
        message=observed.message or ("the Ray cluster is ready" if ready else "starting the Ray cluster"),
        dashboard_url=handle.dashboard_url or None,
        address=handle.gcs_address or None,
        resources=observed.resources,
        started_at=(cluster.status.started_at or now) if ready else None,
    )
    became_ready = ready and cluster.status.phase != "Ready"
    event: tuple[Action, ...] = (
        (RecordEvent("Normal", "Ready", "the Ray cluster is ready"),) if became_ready else ()
    )
    return (WriteStatus(status), *event)


def _failed(cluster: ParkCluster, observed: ClusterObservation, now: datetime) -> tuple[Action, ...]:
    """The substrate cannot bring the cluster up (KubeRay cannot create its pods, something in the way):
    Failed, said once; the substrate's next change (or the spec's) is looked at again."""
    message = observed.message or "the substrate cannot start the Ray cluster"
    status = _status(cluster, now, ready=False, seen=observed.conditions, phase="Failed", message=message)
    said = cluster.status.phase == "Failed" and cluster.status.message == message
    return (WriteStatus(status), *(() if said else (RecordEvent("Warning", "StartFailed", message),)))


def _start(
    cluster: ParkCluster, observed: ClusterObservation, now: datetime, head: tuple[Action, ...]
) -> Plan:
    """None runs, or one made from an older spec: declare the current one."""
    events: tuple[Action, ...] = ()
    restarts = cluster.status.restarts
    if observed.handle is not None and observed.restarts_on_change:
        message = "restarting the Ray head with the new spec"
        events = (RecordEvent("Normal", "Restarting", message),)
    elif observed.handle is not None:
        message = "changing the Ray cluster to the new spec"
        events = (RecordEvent("Normal", "Updating", message),)
    elif cluster.status.phase == "Ready":
        message = "the Ray head stopped answering; starting a new one"
        events = (RecordEvent("Warning", "HeadLost", message),)
        restarts += 1
    else:
        message = observed.message or "starting the Ray head"
    status = _status(
        cluster,
        now,
        ready=False,
        seen=observed.conditions,
        phase="Starting",
        message=message,
        restarts=restarts,
        started_at=None,
    )
    return Plan((*head, *events, WriteStatus(status), EnsureCluster(head_config(cluster))), 0.0)
