"""ParkCluster: keep a Ray head running with the resources the spec declares.

In embedded mode every worker group of the spec lands on the one local head, so the head
advertises the cluster's total resources; on Kubernetes the operator maps groups to KubeRay.
A cluster that names a queue runs only once the scheduler admitted it (`may_run`, on both substrates).
"""

from __future__ import annotations

from dataclasses import dataclass
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
from park.substrates.interface import ClusterHandle, HeadConfig


@dataclass(frozen=True)
class ClusterObservation:
    handle: ClusterHandle | None
    resources: dict[str, float]


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


def _status(cluster: ParkCluster, now: datetime, *, ready: bool, **changes: object) -> ParkClusterStatus:
    reason = "HeadReady" if ready else "HeadNotReady"
    condition = Condition(type="Ready", status="True" if ready else "False", reason=reason)
    conditions = set_condition(cluster.status.conditions, condition, now=now)
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
    stop: tuple[Action, ...] = (StopCluster(),) if observed.handle is not None else ()
    # The scheduler's admission is a change of the object: it reconciles again then, no requeue.
    return Plan((*head, *stop, WriteStatus(queued_status(cluster, now))))


def plan_cluster(
    cluster: ParkCluster, observed: ClusterObservation, now: datetime, *, check_every: float
) -> Plan:
    if cluster.metadata.deletion_timestamp is not None:
        actions: tuple[Action, ...] = (StopCluster(),)
        if FINALIZER in cluster.metadata.finalizers:
            actions += (RemoveFinalizer(),)
        return Plan(actions)
    head: tuple[Action, ...] = () if FINALIZER in cluster.metadata.finalizers else (AddFinalizer(),)
    if not may_run(cluster):
        return _queued(cluster, observed, now, head)
    desired = head_config(cluster)
    handle = observed.handle
    if handle is not None and handle.config == desired:
        status = _status(
            cluster,
            now,
            ready=True,
            phase="Ready",
            message=f"Ray head running (pid {handle.pid})",
            dashboard_url=handle.dashboard_url,
            address=handle.gcs_address,
            resources=observed.resources,
            started_at=cluster.status.started_at or now,
        )
        return Plan((*head, WriteStatus(status)), check_every)
    events: tuple[Action, ...] = ()
    restarts = cluster.status.restarts
    if handle is not None:
        message = "restarting the Ray head with the new spec"
        events = (RecordEvent("Normal", "Restarting", message),)
    elif cluster.status.phase == "Ready":
        message = "the Ray head stopped answering; starting a new one"
        events = (RecordEvent("Warning", "HeadLost", message),)
        restarts += 1
    else:
        message = "starting the Ray head"
    status = _status(
        cluster, now, ready=False, phase="Starting", message=message, restarts=restarts, started_at=None
    )
    return Plan((*head, *events, WriteStatus(status), EnsureCluster(desired)), 0.0)
