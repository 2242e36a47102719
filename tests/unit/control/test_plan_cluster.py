"""The ParkCluster state machine: start, adopt, notice a dead head, restart on spec change."""

from __future__ import annotations

from datetime import UTC, datetime

from park.control.reconcile.actions import (
    FINALIZER,
    EnsureCluster,
    RecordEvent,
    RemoveFinalizer,
    StopCluster,
    WriteStatus,
)
from park.control.reconcile.cluster import ClusterObservation, head_config, plan_cluster
from park.core.meta import ObjectMeta
from park.core.resources import (
    Admission,
    ComputeResources,
    HeadSpec,
    ParkCluster,
    ParkClusterSpec,
    WorkerGroupSpec,
)
from park.substrates.interface import ClusterHandle

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def make_cluster(phase: str | None = None) -> ParkCluster:
    cluster = ParkCluster(
        metadata=ObjectMeta(name="c", namespace="default", generation=1, finalizers=[FINALIZER]),
        spec=ParkClusterSpec(
            head=HeadSpec(resources=ComputeResources(cpu="1")),
            worker_groups=[
                WorkerGroupSpec(name="w", replicas=2, resources=ComputeResources(cpu="500m", gpu=1))
            ],
        ),
    )
    return cluster.model_copy(update={"status": cluster.status.model_copy(update={"phase": phase})})


def handle_for(cluster: ParkCluster) -> ClusterHandle:
    return ClusterHandle("default.c", "http://127.0.0.1:1", "127.0.0.1:2", "t", 42, head_config(cluster))


def test_head_config_sums_the_head_and_every_worker_replica() -> None:
    config = head_config(make_cluster())
    assert (config.num_cpus, config.num_gpus) == (2.0, 2)


def test_a_new_cluster_starts_its_head() -> None:
    plan = plan_cluster(make_cluster(), ClusterObservation(None, {}), NOW, check_every=5)
    assert [a for a in plan.actions if isinstance(a, EnsureCluster)] == [
        EnsureCluster(head_config(make_cluster()))
    ]
    assert plan.requeue_after == 0.0


def test_a_running_head_makes_the_cluster_ready_and_is_checked_again() -> None:
    cluster = make_cluster("Starting")
    plan = plan_cluster(cluster, ClusterObservation(handle_for(cluster), {"CPU": 2.0}), NOW, check_every=5)
    (write,) = [a for a in plan.actions if isinstance(a, WriteStatus)]
    assert (write.status.phase, write.status.resources, write.status.dashboard_url) == (
        "Ready",
        {"CPU": 2.0},
        "http://127.0.0.1:1",
    )
    assert not [a for a in plan.actions if isinstance(a, EnsureCluster)]
    assert plan.requeue_after == 5


def test_a_head_that_died_is_restarted_with_a_warning() -> None:
    plan = plan_cluster(make_cluster("Ready"), ClusterObservation(None, {}), NOW, check_every=5)
    assert any(isinstance(a, RecordEvent) and a.reason == "HeadLost" for a in plan.actions)
    (write,) = [a for a in plan.actions if isinstance(a, WriteStatus)]
    assert write.status.restarts == 1
    assert any(isinstance(a, EnsureCluster) for a in plan.actions)


def test_a_changed_spec_restarts_the_head() -> None:
    cluster = make_cluster("Ready")
    old = handle_for(cluster)
    grown = cluster.model_copy(
        update={
            "spec": cluster.spec.model_copy(update={"head": HeadSpec(resources=ComputeResources(cpu="3"))})
        }
    )
    plan = plan_cluster(grown, ClusterObservation(old, {}), NOW, check_every=5)
    assert any(isinstance(a, RecordEvent) and a.reason == "Restarting" for a in plan.actions)
    assert [a.config.num_cpus for a in plan.actions if isinstance(a, EnsureCluster)] == [4.0]


def test_deletion_stops_the_head_then_releases_the_finalizer() -> None:
    cluster = make_cluster("Ready")
    cluster = cluster.model_copy(
        update={"metadata": cluster.metadata.model_copy(update={"deletion_timestamp": NOW})}
    )
    plan = plan_cluster(cluster, ClusterObservation(handle_for(cluster), {}), NOW, check_every=5)
    assert plan.actions == (StopCluster(), RemoveFinalizer())


def charged(cluster: ParkCluster, admission: Admission | None) -> ParkCluster:
    """The cluster charged to queue `team`, with what the scheduler wrote."""
    spec = cluster.spec.model_copy(update={"queue": "team"})
    status = cluster.status.model_copy(update={"admission": admission})
    return cluster.model_copy(update={"spec": spec, "status": status})


def test_a_cluster_charged_to_a_queue_waits_queued_until_admitted() -> None:
    waiting = Admission(queue="team", message="waiting: needs 2 gpu, team has 1 free, 1st in line")
    plan = plan_cluster(charged(make_cluster(), waiting), ClusterObservation(None, {}), NOW, check_every=5)

    assert not [a for a in plan.actions if isinstance(a, EnsureCluster)]
    (write,) = [a for a in plan.actions if isinstance(a, WriteStatus)]
    assert (write.status.phase, write.status.message) == ("Queued", waiting.message)
    assert plan.requeue_after is None  # the scheduler's admission is a change: it reconciles again


def test_a_charged_cluster_without_admission_stops_a_head_it_runs() -> None:
    """A queue added to a running cluster: like a suspended workload, it runs again once admitted."""
    cluster = charged(make_cluster("Ready"), None)
    plan = plan_cluster(cluster, ClusterObservation(handle_for(cluster), {"CPU": 2.0}), NOW, check_every=5)

    assert StopCluster() in plan.actions
    (write,) = [a for a in plan.actions if isinstance(a, WriteStatus)]
    assert write.status.phase == "Queued" and write.status.message == "waiting for the scheduler"


def test_an_admitted_cluster_starts_its_head() -> None:
    admitted = Admission(admitted=True, queue="team", admitted_at=NOW)
    plan = plan_cluster(charged(make_cluster(), admitted), ClusterObservation(None, {}), NOW, check_every=5)

    assert [a for a in plan.actions if isinstance(a, EnsureCluster)] == [
        EnsureCluster(head_config(make_cluster()))
    ]
