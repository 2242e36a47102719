"""Small builders so each test reads as the situation it sets up."""

from __future__ import annotations

from typing import Any

from park.control.scheduler import (
    Admit,
    CohortName,
    Decision,
    PolicyConfig,
    Preempt,
    PreemptionPolicy,
    QueueingStrategy,
    QueueName,
    QueueSpec,
    Resources,
    Snapshot,
    Wait,
    Workload,
    WorkloadId,
    WorkloadKind,
    schedule,
)

# Aging, starvation and minimum runtime off unless a test turns them on: each test isolates one policy.
PLAIN = PolicyConfig(
    aging_interval_s=None, starvation_after_s=None, min_runtime_s=0.0, checkpoint_bucket_s=0.0
)


def queue(
    name: str,
    gpu: float | None = None,
    *,
    cohort: str | None = None,
    borrow: float | None = None,
    lend: float | None = None,
    weight: float = 1.0,
    strict: bool = False,
    preemption: PreemptionPolicy | None = None,
    **extra: float,
) -> QueueSpec:
    return QueueSpec(
        name=QueueName(name),
        nominal=Resources.of({**({"gpu": gpu or 0} if gpu is not None or not extra else {}), **extra}),
        cohort=CohortName(cohort) if cohort else None,
        borrowing_limit=Resources.of(gpu=borrow) if borrow is not None else None,
        lending_limit=Resources.of(gpu=lend) if lend is not None else None,
        weight=weight,
        strategy=QueueingStrategy.STRICT_FIFO if strict else QueueingStrategy.BEST_EFFORT_FIFO,
        preemption=preemption or PreemptionPolicy(),
    )


def job(
    name: str,
    q: str,
    gpu: float = 1,
    *,
    pods: int = 1,
    priority: int = 0,
    created: float = 0.0,
    admitted: float | None = None,
    checkpoint: float | None = None,
    kind: WorkloadKind = WorkloadKind.JOB,
    evicting: bool = False,
    preemptible: bool = True,
    group: str | None = None,
    per_pod: Resources | None = None,
) -> Workload:
    return Workload(
        id=WorkloadId(name),
        queue=QueueName(q),
        per_pod=per_pod if per_pod is not None else Resources.of(gpu=gpu),
        created_at=created,
        pods=pods,
        priority=priority,
        kind=kind,
        admitted_at=admitted,
        last_checkpoint_at=checkpoint,
        evicting=evicting,
        preemptible=preemptible,
        group=group,
    )


def service(name: str, q: str, gpu: float = 1, **kwargs: Any) -> Workload:
    return job(name, q, gpu, kind=WorkloadKind.SERVICE, **kwargs)


def run(
    queues: list[QueueSpec], workloads: list[Workload], now: float = 1000.0, config: PolicyConfig = PLAIN
) -> list[Decision]:
    return schedule(Snapshot(tuple(queues), tuple(workloads)), now, config)


def admitted(decisions: list[Decision]) -> list[str]:
    return [d.workload for d in decisions if isinstance(d, Admit)]


def preempted(decisions: list[Decision]) -> list[str]:
    return [d.victim for d in decisions if isinstance(d, Preempt)]


def waits(decisions: list[Decision]) -> dict[str, Wait]:
    return {d.workload: d for d in decisions if isinstance(d, Wait)}
