"""`plan_service` and the scheduler's view of services: estimate, admission gate, Serve phases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from park.control.controllers.admission import parse_replica_id, service_workloads
from park.control.reconcile.actions import AddFinalizer, RecordEvent, RemoveFinalizer, SyncServe, WriteStatus
from park.control.reconcile.service import (
    SERVICE_FINALIZER,
    ServiceObservation,
    estimated_deployments,
    model_jobs,
    plan_service,
    serve_applications,
)
from park.control.scheduler import WorkloadKind
from park.core.resources import ParkService, ServiceAdmission, ServiceDeployment
from park.substrates.interface import (
    ClusterHandle,
    HeadConfig,
    ServeApplicationState,
    ServeDeploymentState,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HANDLE = ClusterHandle(
    key="default.default",
    dashboard_url="http://127.0.0.1:1",
    gcs_address="127.0.0.1:2",
    token="t",
    pid=1,
    config=HeadConfig(num_cpus=2),
    serve_url="http://127.0.0.1:8123",
)
APP = {
    "name": "llm",
    "route_prefix": "/v1",
    "import_path": "park.workloads.serve.app:build",
    "deployments": [
        {"name": "decode", "num_replicas": 2, "ray_actor_options": {"num_cpus": 0.5}},
        {"name": "prefill", "autoscaling_config": {"min_replicas": 1, "max_replicas": 4}},
    ],
}


def service(**status: Any) -> ParkService:
    return ParkService.model_validate(
        {
            "metadata": {
                "name": "chat",
                "namespace": "default",
                "finalizers": [SERVICE_FINALIZER],
                "creationTimestamp": NOW,
                "generation": 1,
            },
            "spec": {"applications": [APP], "priority": 100},
            "status": status,
        }
    )


def statuses(plan_actions: tuple[object, ...]) -> list[Any]:
    return [a.status for a in plan_actions if isinstance(a, WriteStatus)]


def test_the_spec_must_name_an_import_path_and_unique_apps() -> None:
    with pytest.raises(ValidationError, match="import_path is required"):
        ParkService.model_validate({"metadata": {"name": "x"}, "spec": {"applications": [{"name": "a"}]}})
    twice = {"import_path": "m:a"}
    with pytest.raises(ValidationError, match="used twice"):
        ParkService.model_validate({"metadata": {"name": "x"}, "spec": {"applications": [twice, twice]}})


def test_applications_are_renamed_and_routed_under_the_service() -> None:
    (app,) = serve_applications(service())
    assert app["name"] == "default.chat.llm"
    assert app["route_prefix"] == "/default/chat/v1"
    assert APP["name"] == "llm", "the spec is not modified"


def test_the_estimate_reads_replicas_and_serves_default_of_one_cpu() -> None:
    decode, prefill = estimated_deployments(service())
    assert (decode.key, decode.target_replicas, decode.replica_resources) == ("llm/decode", 2, {"cpu": 0.5})
    assert (prefill.target_replicas, prefill.replica_resources) == (1, {"cpu": 1.0})


def test_a_new_service_gets_its_finalizer_first() -> None:
    bare = service()
    fresh = bare.model_copy(update={"metadata": bare.metadata.model_copy(update={"finalizers": []})})
    plan = plan_service(fresh, ServiceObservation(cluster=HANDLE))
    assert plan.actions == (AddFinalizer(SERVICE_FINALIZER),)


def test_without_a_finalizer_a_service_is_planned_as_it_is() -> None:
    """On Kubernetes the service owns its RayService: the garbage collector, not a finalizer, cleans up."""
    bare = service()
    fresh = bare.model_copy(update={"metadata": bare.metadata.model_copy(update={"finalizers": []})})
    plan = plan_service(fresh, ServiceObservation(cluster=HANDLE), finalizer=False)
    assert not any(isinstance(a, AddFinalizer) for a in plan.actions)
    assert statuses(plan.actions)[0].phase == "Queued"


def test_it_waits_for_its_cluster_then_for_the_scheduler() -> None:
    (pending,) = statuses(plan_service(service(), ServiceObservation(cluster=None)).actions)
    assert pending.phase == "Pending"
    plan = plan_service(service(), ServiceObservation(cluster=HANDLE))
    assert not any(isinstance(a, SyncServe) for a in plan.actions), "nothing reaches Serve before admission"
    (queued,) = statuses(plan.actions)
    assert queued.phase == "Queued"
    assert [d.target_replicas for d in queued.deployments] == [2, 1]


def test_an_admitted_service_is_synced_and_reports_what_serve_runs() -> None:
    admitted = service(
        phase="Queued", admission={"replicas": {"llm/decode": 2, "llm/prefill": 1}, "admittedAt": NOW}
    )
    deploying = plan_service(admitted, ServiceObservation(cluster=HANDLE))
    assert isinstance(deploying.actions[0], SyncServe)
    assert statuses(deploying.actions)[0].phase == "Deploying"

    serve = {
        "default.chat.llm": ServeApplicationState(
            name="default.chat.llm",
            status="RUNNING",
            message="",
            route_prefix="/default/chat/v1",
            deployments={
                "decode": ServeDeploymentState("decode", "HEALTHY", "", 3, 2, {"cpu": 0.5}, {"RUNNING": 2}),
            },
        )
    }
    running = plan_service(admitted, ServiceObservation(cluster=HANDLE, apps=serve))
    (status,) = statuses(running.actions)
    assert status.phase == "Running"
    assert status.endpoints == ["http://127.0.0.1:8123/default/chat/v1"]
    (decode,) = status.deployments
    assert (decode.target_replicas, decode.running_replicas, decode.observed) == (3, 2, True)
    assert any(isinstance(a, RecordEvent) and a.reason == "Running" for a in running.actions)


def test_a_failed_deploy_surfaces_serves_last_line() -> None:
    admitted = service(phase="Deploying", admission={"admittedAt": NOW})
    failed = ServeApplicationState(
        "default.chat.llm", "DEPLOY_FAILED", "Traceback\nModuleNotFoundError: No module named 'x'", None
    )
    plan = plan_service(admitted, ServiceObservation(cluster=HANDLE, apps={failed.name: failed}))
    (status,) = statuses(plan.actions)
    assert status.phase == "Failed"
    assert status.message == "application default.chat.llm: ModuleNotFoundError: No module named 'x'"


def test_an_invalid_service_fails_without_touching_serve() -> None:
    plan = plan_service(service(), ServiceObservation(cluster=HANDLE, invalid="application x: bad"))
    assert not any(isinstance(a, SyncServe) for a in plan.actions)
    assert statuses(plan.actions)[0].phase == "Failed"


TRACEBACK = """The deployment failed to start 3 times in a row. This may be due to a problem with its
constructor or initial health check failing. See controller logs for details. Error:
\x1b[36mray::llm:decode.initialize_and_get_metadata()\x1b[39m (pid=3977, ip=127.0.0.1)
  File "/venv/lib/python3.11/site-packages/ray/serve/_private/replica.py", line 1928, in initialize
    raise RuntimeError(traceback.format_exc()) from None
RuntimeError: Traceback (most recent call last):
  File "/park/workloads/models/charlm.py", line 329, in read_meta
FileNotFoundError: [Errno 2] No such file or directory: '/models/x/charlm.json'

The above exception was the direct cause of the following exception:

  File "/park/workloads/models/charlm.py", line 331, in read_meta
    raise CheckpointFormatError(f"{directory} holds no readable {META_FILE}") from exc
park.workloads.models.charlm.CheckpointFormatError: /models/x holds no readable charlm.json
"""


def test_a_failed_service_lists_no_endpoint_and_says_its_cause_in_one_line() -> None:
    """Serve's messages hold whole tracebacks (kilobytes, one per deployment): the status keeps the cause."""
    running = service(
        phase="Running",
        admission={"admittedAt": NOW},
        endpoints=["http://127.0.0.1:8123/default/chat/v1"],
    )
    failed = ServeApplicationState(
        "default.chat.llm",
        "DEPLOY_FAILED",
        "Failed to update the deployments ['decode', 'prefill'].",
        None,
        {
            name: ServeDeploymentState(name, "DEPLOY_FAILED", TRACEBACK, 1, 0, {"cpu": 0.5})
            for name in ("decode", "prefill")
        },
    )
    plan = plan_service(running, ServiceObservation(cluster=HANDLE, apps={failed.name: failed}))
    (status,) = statuses(plan.actions)
    cause = "CheckpointFormatError: /models/x holds no readable charlm.json"
    assert status.phase == "Failed" and status.endpoints == []
    assert status.message == f"application default.chat.llm: deployment decode: {cause}"
    assert [d.message for d in status.deployments] == [cause, cause]
    (event,) = [a for a in plan.actions if isinstance(a, RecordEvent)]
    assert event.reason == "DeployFailed" and cause in event.message

    invalid = plan_service(running, ServiceObservation(cluster=HANDLE, invalid="application llm: bad"))
    assert statuses(invalid.actions)[0].endpoints == []


def test_deletion_removes_the_apps_before_the_finalizer() -> None:
    deleting = service()
    deleting = deleting.model_copy(
        update={"metadata": deleting.metadata.model_copy(update={"deletion_timestamp": NOW})}
    )
    app = ServeApplicationState("default.chat.llm", "RUNNING", "", None, {})
    still = plan_service(deleting, ServiceObservation(cluster=HANDLE, apps={app.name: app}))
    assert isinstance(still.actions[0], SyncServe)
    gone = plan_service(deleting, ServiceObservation(cluster=HANDLE, apps={}))
    assert gone.actions == (RemoveFinalizer(SERVICE_FINALIZER),)


def test_each_wanted_replica_is_a_workload_and_granted_ones_are_admitted() -> None:
    queued = service(
        phase="Running",
        admission=ServiceAdmission(replicas={"llm/decode": 2}, admitted_at=NOW),
        deployments=[
            ServiceDeployment(
                application="llm", name="decode", target_replicas=3, replica_resources={"cpu": 0.5}
            )
        ],
    )
    workloads = service_workloads(queued, {}, NOW.timestamp())
    assert [w.admitted for w in workloads] == [True, True, False]
    assert {(w.kind, w.group, w.priority, w.preemptible) for w in workloads} == {
        (WorkloadKind.SERVICE, "default/chat", 100, False)
    }
    assert parse_replica_id(workloads[2].id) == ("default/chat", "llm/decode")
    assert parse_replica_id(workloads[2].id.replace("@", "/")) is None  # type: ignore[arg-type]


def test_a_job_model_is_resolved_from_the_jobs_checkpoint_or_waits_for_it() -> None:
    app = {**APP, "args": {"model": "job:charlm", "mode": "monolithic"}}
    spec = service().spec.model_copy(update={"applications": [app]})
    trained = service().model_copy(update={"spec": spec})
    assert model_jobs(trained) == {"charlm"}
    (entry,) = serve_applications(trained, {"charlm": "/ckpt/step-400"})
    assert entry["args"] == {"model": "/ckpt/step-400", "mode": "monolithic"}
    assert app["args"]["model"] == "job:charlm", "the spec is not modified"
    plan = plan_service(trained, ServiceObservation(cluster=HANDLE, missing_models=("charlm",)))
    (status,) = statuses(plan.actions)
    assert status.phase == "Pending"
    assert status.message == "waiting for ParkJob charlm to write a checkpoint to serve"
