"""The ParkCluster state machine, the same on both substrates: start, adopt, notice a dead head, restart
(or update) on spec change, follow a cluster that starts or fails, wait queued until admitted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from park.control.reconcile.actions import (
    FINALIZER,
    AddFinalizer,
    EnsureCluster,
    Plan,
    RecordEvent,
    RemoveFinalizer,
    StopCluster,
    WriteStatus,
)
from park.control.reconcile.cluster import ClusterObservation, head_config, plan_cluster
from park.core.meta import Condition, ObjectMeta
from park.core.resources import (
    Admission,
    ComputeResources,
    HeadSpec,
    ParkCluster,
    ParkClusterSpec,
    ParkClusterStatus,
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
    # The substrate compares what runs with the declaration (here: the old head config is not the new one).
    plan = plan_cluster(grown, ClusterObservation(old, {}, current=False), NOW, check_every=5)
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


# What a substrate running a cluster of pods (KubeRay) reports: progress, failures, its conditions.


def kuberay_like(cluster: ParkCluster, **seen: Any) -> ClusterObservation:
    handle = ClusterHandle(
        "default.c", "http://c-head-svc.default.svc:8265", "c-head-svc.default.svc:6379", "", 0,
        head_config(cluster),
    )  # fmt: skip
    return replace(ClusterObservation(handle, {"CPU": 2.0, "GPU": 2.0}, restarts_on_change=False), **seen)


def writes(plan: Plan) -> ParkClusterStatus:
    (write,) = [a for a in plan.actions if isinstance(a, WriteStatus)]
    return write.status


def reasons(plan: Plan) -> list[str]:
    return [a.reason for a in plan.actions if isinstance(a, RecordEvent)]


def test_a_cluster_whose_pods_are_coming_up_is_starting_with_the_substrates_progress() -> None:
    cluster = make_cluster("Starting")
    seen = kuberay_like(cluster, readiness="Starting", message="1/2 workers ready")
    plan = plan_cluster(cluster, seen, NOW, check_every=None, finalizer=False)

    status = writes(plan)
    assert (status.phase, status.message, status.started_at) == ("Starting", "1/2 workers ready", None)
    assert (status.dashboard_url, status.address) == (
        "http://c-head-svc.default.svc:8265",
        "c-head-svc.default.svc:6379",
    )
    assert status.resources == {"CPU": 2.0, "GPU": 2.0}, "what its pods hold, while they start too"
    assert not [a for a in plan.actions if isinstance(a, EnsureCluster)], "it runs the current spec"
    assert plan.requeue_after is None, "a watch says when it changes"


def test_a_cluster_becomes_ready_once_with_one_event_and_keeps_its_start() -> None:
    cluster = make_cluster("Starting")
    plan = plan_cluster(
        cluster, kuberay_like(cluster, message="all Ray pods are ready"), NOW, check_every=None
    )
    ready = writes(plan)
    assert (ready.phase, ready.message, ready.started_at) == ("Ready", "all Ray pods are ready", NOW)
    assert reasons(plan) == ["Ready"]

    again = cluster.model_copy(update={"status": ready})
    later = NOW + timedelta(minutes=5)
    plan = plan_cluster(again, kuberay_like(again, message="all Ray pods are ready"), later, check_every=None)
    assert writes(plan) == ready and reasons(plan) == [], "nothing moves while nothing changed"


def test_a_failure_the_substrate_reports_fails_the_cluster_and_is_said_once() -> None:
    cluster = make_cluster("Starting")
    seen = kuberay_like(cluster, readiness="Failed", message="FailedCreateWorkerPod: exceeded quota")
    plan = plan_cluster(cluster, seen, NOW, check_every=None)
    failed = writes(plan)
    assert (failed.phase, failed.message) == ("Failed", "FailedCreateWorkerPod: exceeded quota")
    assert reasons(plan) == ["StartFailed"]
    assert not [a for a in plan.actions if isinstance(a, EnsureCluster)]

    still = cluster.model_copy(update={"status": failed})
    assert reasons(plan_cluster(still, seen, NOW, check_every=None)) == []
    # The failure clears (KubeRay removes ReplicaFailure once it can create the pods): starting again.
    recovered = kuberay_like(still, readiness="Starting", message="1/2 workers ready")
    assert writes(plan_cluster(still, recovered, NOW, check_every=None)).phase == "Starting"


def test_something_in_the_way_fails_the_cluster_without_declaring_it() -> None:
    message = "a RayCluster named c that Park did not make is in the way: delete it or rename the ParkCluster"
    seen = ClusterObservation(None, {}, readiness="Failed", message=message)
    plan = plan_cluster(make_cluster(), seen, NOW, check_every=None)
    assert (writes(plan).phase, writes(plan).message) == ("Failed", message)
    assert not [a for a in plan.actions if isinstance(a, EnsureCluster)]


def test_the_substrates_conditions_are_copied_and_move_only_when_they_flip() -> None:
    cluster = make_cluster("Starting")
    head = Condition(type="HeadPodReady", status="True", reason="HeadPodRunningAndReady")
    plan = plan_cluster(cluster, kuberay_like(cluster, conditions=(head,)), NOW, check_every=None)
    kinds = {c.type: c for c in writes(plan).conditions}
    assert (kinds["HeadPodReady"].status, kinds["HeadPodReady"].reason) == ("True", "HeadPodRunningAndReady")
    assert kinds["Ready"].status == "True" and kinds["HeadPodReady"].last_transition_time == NOW


def test_a_changed_spec_updates_a_cluster_the_substrate_changes_in_place() -> None:
    cluster = make_cluster("Ready")
    plan = plan_cluster(cluster, kuberay_like(cluster, current=False), NOW, check_every=None)
    assert reasons(plan) == ["Updating"] and writes(plan).restarts == 0
    assert [a for a in plan.actions if isinstance(a, EnsureCluster)] == [EnsureCluster(head_config(cluster))]


def test_without_a_finalizer_nothing_is_added_and_deletion_only_stops() -> None:
    cluster = make_cluster()
    bare = cluster.model_copy(update={"metadata": cluster.metadata.model_copy(update={"finalizers": []})})
    plan = plan_cluster(bare, ClusterObservation(None, {}), NOW, check_every=None, finalizer=False)
    assert not [a for a in plan.actions if isinstance(a, AddFinalizer)]
    gone = bare.model_copy(update={"metadata": bare.metadata.model_copy(update={"deletion_timestamp": NOW})})
    assert plan_cluster(gone, ClusterObservation(None, {}), NOW, check_every=None).actions == (StopCluster(),)


def test_a_requeued_cluster_says_why_its_cluster_stops() -> None:
    cluster = charged(make_cluster("Ready"), None)
    plan = plan_cluster(cluster, kuberay_like(cluster), NOW, check_every=None)
    assert reasons(plan) == ["Stopping"] and StopCluster() in plan.actions
    assert writes(plan).resources == {} and writes(plan).dashboard_url is None
