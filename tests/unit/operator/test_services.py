"""ParkServices on both substrates: `park up`'s service controller and planner over the local head, and
the same over the KubeRay adapter (the operator's wiring), with the SQLite store in both. Given the same
Serve answers, a service goes through the same phases, messages, events, deployments and endpoints."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from park.control.controllers.services import ServiceReconciler
from park.control.costs import Layout
from park.control.reconcile.service import OBSERVE_EVERY_S, SERVICE_FINALIZER
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.loading import load_documents
from park.core.resources import AnyResource, ParkService, PodTemplate, ResourceKey, ServiceAdmission
from park.substrates import _ray_serve as serve
from park.substrates.interface import ClusterHandle, HeadConfig, ServeApplicationState, ServeDeclaration
from park.substrates.kuberay_services import KubeRayServices
from tests.fakes import FakeKubeRay

CHAT = """
apiVersion: park.dev/v1alpha1
kind: ParkService
metadata: {name: chat}
spec:
  cluster: gpus
  applications:
  - name: llm
    import_path: park.workloads.serve.app:build
    route_prefix: /v1
    args: {model: "job:charlm"}
    deployments: [{name: decode, num_replicas: 2, ray_actor_options: {num_cpus: 1, num_gpus: 1}}]
"""
TRAIN = """
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: charlm}
spec: {workload: {name: train}}
"""
GPUS = """
apiVersion: park.dev/v1alpha1
kind: ParkCluster
metadata: {name: gpus}
spec: {workerGroups: [{name: g, replicas: 2, resources: {cpu: 2, gpu: 1}}]}
"""
CHECKPOINT = "s3://park/jobs/ns/charlm/checkpoints/step-40"
TRACEBACK = (
    "The deployment failed to start 3 times in a row. See controller logs for details. Error:\n"
    "Traceback (most recent call last):\n"
    '  File "/park/workloads/models/charlm.py", line 331, in read_meta\n'
    "park.workloads.models.charlm.CheckpointFormatError: /models/x holds no readable charlm.json"
)


def serve_answer(
    app_status: str, dep_status: str, target: int, running: int, message: str = ""
) -> dict[str, Any]:
    """Serve's GET /api/serve/applications/ answer (ServeInstanceDetails) for the service's one app."""
    replicas = [{"replica_id": f"r{i}", "state": "RUNNING", "pid": 100 + i} for i in range(running)]
    return {
        "controller_info": {"node_id": "n1", "actor_name": "SERVE_CONTROLLER_ACTOR"},
        "proxy_location": "EveryNode",
        "deploy_mode": "MULTI_APP",
        "applications": {
            "ns.chat.llm": {
                "name": "ns.chat.llm",
                "route_prefix": "/ns/chat/v1",
                "status": app_status,
                "message": "Failed to update the deployments ['decode']." if message else "",
                "source": "declarative",
                "deployments": {
                    "decode": {
                        "name": "decode",
                        "status": dep_status,
                        "message": message,
                        "target_num_replicas": target,
                        "required_resources": {"CPU": 1, "GPU": 1},
                        "replicas": replicas,
                    }
                },
            }
        },
    }


def kuberay_status(answer: dict[str, Any], *, routed: bool | None = None) -> dict[str, Any]:
    """What KubeRay writes while it deploys `answer`'s applications: Ready (its Serve Service routed) once
    Serve runs them all, as KubeRay does, unless told otherwise."""
    apps = answer["applications"].values()
    ready = all(app["status"] == "RUNNING" for app in apps) if routed is None else routed
    condition = {
        "type": "Ready",
        "status": str(ready),
        "reason": "NonZeroServeEndpoints" if ready else "Initializing",
    }
    return {"conditions": [condition], "pendingServiceStatus": {"rayClusterName": "chat-x7k2p"}}


@dataclass
class LocalHead:
    """`park up`'s substrate at its Serve seam: the shared head of ParkCluster `gpus`, running what was
    declared to it; what Serve answers is parsed by the same code as on the real head."""

    answer: dict[str, Any] | None = None
    declared: list[ServeDeclaration] = field(default_factory=list)

    def get_cluster(self, key: str) -> ClusterHandle | None:
        assert key == "ns.gpus"
        return ClusterHandle(
            key, "http://127.0.0.1:8265", "127.0.0.1:6379", "t", 1, HeadConfig(4), "http://127.0.0.1:8123"
        )

    def deploy_applications(self, handle: ClusterHandle, declaration: ServeDeclaration) -> None:
        self.declared.append(declaration)

    def serve_applications(self, handle: ClusterHandle) -> dict[str, ServeApplicationState]:
        return serve.parse_applications(self.answer) if self.declared and self.answer else {}

    def check_applications(self, applications: list[dict[str, Any]]) -> None:
        serve.check_applications(applications)


class FakeProxy:
    def __init__(self) -> None:
        self.answer: dict[str, Any] | None = None

    def connect_get_namespaced_service_proxy_with_path(
        self, name: str, namespace: str, path: str, *, _preload_content: bool, _request_timeout: float
    ) -> Any:
        if self.answer is None or name != "chat-x7k2p-head-svc:dashboard":
            raise ApiException(status=503, reason="Service Unavailable")
        return SimpleNamespace(data=json.dumps(self.answer).encode())


class World:
    """One substrate under the same controller, with the SQLite store, told what Serve answers."""

    def __init__(self, tmp_path: Path, substrate: str) -> None:
        self.substrate = substrate
        self.store = SQLiteStore(tmp_path / "park.db", clock=FakeClock())
        if substrate == "park up":
            self.head = LocalHead()
            self.reconciler = ServiceReconciler(store=self.store, substrate=self.head)
        else:
            self.kuberay, self.proxy = FakeKubeRay(), FakeProxy()
            adapter = KubeRayServices(
                api_client=k8s.ApiClient(),
                pods=PodTemplate(image="img"),
                ray_version="2.60.0",
                objects=self.kuberay,
                proxy=self.proxy,
            )
            self.reconciler = ServiceReconciler(
                store=self.store, substrate=adapter, layout=Layout.OWN_CLUSTER, finalizer=False
            )
        for text in (GPUS, TRAIN, CHAT):
            create(self.store, text)

    def reconcile(self) -> float | None:
        return asyncio.run(self.reconciler.reconcile(ResourceKey("ParkService", "ns", "chat")))

    def serve_answers(self, answer: dict[str, Any]) -> None:
        if self.substrate == "park up":
            self.head.answer = answer
        else:
            self.proxy.answer = answer  # from the head of the cluster KubeRay deploys to
            self.kuberay.set_status("RayService", "chat", kuberay_status(answer))

    def declared(self) -> list[dict[str, Any]]:
        if self.substrate == "park up":
            return self.head.declared[-1].applications if self.head.declared else []
        body = self.kuberay.get("RayService", "ns", "chat")
        return yaml.safe_load(body["spec"]["serveConfigV2"])["applications"] if body else []

    def service(self) -> ParkService:
        found = self.store.get("ParkService", "ns", "chat")
        assert isinstance(found, ParkService)
        return found

    def reasons(self) -> list[str]:
        return [event.reason for event in self.store.list_events(kind="ParkService", name="chat")]

    def admit(self) -> None:
        service = self.service()
        granted = ServiceAdmission(queue="default", admitted_at=service.metadata.creation_timestamp)
        self.store.update_status(
            service.model_copy(update={"status": service.status.model_copy(update={"admission": granted})})
        )

    def checkpoint(self) -> None:
        job = self.store.get("ParkJob", "ns", "charlm")
        self.store.update_status(
            job.model_copy(update={"status": job.status.model_copy(update={"checkpoint": CHECKPOINT})})
        )


def create(store: SQLiteStore, text: str) -> AnyResource:
    (obj,) = load_documents(text, source="test")
    obj = obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"namespace": "ns"})})
    return store.create(obj)


SUBSTRATES = ["park up", "kuberay"]


@pytest.fixture(params=SUBSTRATES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    return World(tmp_path, request.param)


def fields(service: ParkService) -> dict[str, Any]:
    """What a user reads of the status, endpoints by path (the host is the substrate's Serve proxy)."""
    status = service.status
    return {
        "phase": status.phase,
        "message": status.message,
        "deployments": [d.model_dump() for d in status.deployments],
        "endpoint paths": ["/" + url.split("/", 3)[3] for url in status.endpoints],
    }


def test_a_service_waits_for_its_model_then_the_scheduler_then_is_served(world: World) -> None:
    look_again = world.reconcile()
    if world.substrate == "park up":  # the finalizer first: only a shared head needs it
        assert world.service().metadata.finalizers == [SERVICE_FINALIZER]
        look_again = world.reconcile()
    else:
        assert world.service().metadata.finalizers == []
    assert look_again is not None and look_again >= OBSERVE_EVERY_S, "no event says a checkpoint appeared"
    waiting = world.service()
    assert (waiting.status.phase, waiting.status.message) == (
        "Pending",
        "waiting for ParkJob charlm to write a checkpoint to serve",
    )

    world.checkpoint()
    world.reconcile()
    queued = world.service()
    assert (queued.status.phase, queued.status.message) == ("Queued", "waiting for the scheduler")
    assert [(d.key, d.target_replicas, d.observed) for d in queued.status.deployments] == [
        ("llm/decode", 2, False)
    ]
    assert world.declared() == [], "nothing reaches Serve before the scheduler admits it"

    world.admit()
    world.reconcile()
    (app,) = world.declared()
    assert (app["name"], app["route_prefix"], app["args"]["model"]) == (
        "ns.chat.llm",
        "/ns/chat/v1",
        CHECKPOINT,
    )
    deploying = world.service()
    assert (deploying.status.phase, deploying.status.message) == (
        "Deploying",
        "declaring its applications to Ray Serve",
    )

    world.serve_answers(serve_answer("RUNNING", "UPSCALING", target=3, running=2))
    world.reconcile()
    running = world.service()
    assert running.status.phase == "Running"
    (decode,) = running.status.deployments
    assert (decode.target_replicas, decode.running_replicas, decode.observed) == (3, 2, True)
    assert decode.replica_resources == {"cpu": 1.0, "gpu": 1.0}, (
        "the scheduler sees Serve's autoscaling target"
    )
    (endpoint,) = running.status.endpoints
    expected = {"park up": "http://127.0.0.1:8123", "kuberay": "http://chat-serve-svc.ns.svc:8000"}
    assert endpoint == expected[world.substrate] + "/ns/chat/v1"

    world.serve_answers(
        serve_answer("DEPLOY_FAILED", "DEPLOY_FAILED", target=3, running=0, message=TRACEBACK)
    )
    world.reconcile()
    failed = world.service()
    cause = "CheckpointFormatError: /models/x holds no readable charlm.json"
    assert (failed.status.phase, failed.status.message) == (
        "Failed",
        f"application ns.chat.llm: deployment decode: {cause}",
    )
    assert failed.status.endpoints == []
    assert world.reasons() == ["Running", "DeployFailed"]


def test_the_same_observations_give_the_same_status_on_both_substrates(tmp_path: Path) -> None:
    seen: dict[str, list[dict[str, Any]]] = {}
    for substrate in SUBSTRATES:
        (tmp_path / substrate).mkdir()
        world = World(tmp_path / substrate, substrate)
        steps = [world.reconcile, world.checkpoint, world.admit]
        answers = [
            serve_answer("DEPLOYING", "UPDATING", target=2, running=0),
            serve_answer("RUNNING", "HEALTHY", target=2, running=2),
            serve_answer(
                "UNHEALTHY", "UNHEALTHY", target=2, running=1, message="replica r1 failed health checks"
            ),
        ]
        seen[substrate] = []
        for step in steps:
            step()
            world.reconcile()
            world.reconcile()
            seen[substrate].append(fields(world.service()))
        for answer in answers:
            world.serve_answers(answer)
            world.reconcile()
            seen[substrate].append(fields(world.service()))
        seen[substrate].append({"events": world.reasons()})
    assert seen["park up"] == seen["kuberay"]
    assert [step.get("phase") for step in seen["kuberay"]][:-1] == [
        "Pending",
        "Queued",
        "Deploying",
        "Deploying",
        "Running",
        "Unhealthy",
    ]


def test_on_kubernetes_a_service_runs_once_kuberay_routes_its_serve_service(tmp_path: Path) -> None:
    """Serve may say RUNNING before KubeRay routes `<name>-serve-svc` to it: until then nothing answers."""
    world = World(tmp_path, "kuberay")
    world.checkpoint()
    world.admit()
    world.reconcile()
    answer = serve_answer("RUNNING", "HEALTHY", target=2, running=2)
    world.proxy.answer = answer
    world.kuberay.set_status("RayService", "chat", kuberay_status(answer, routed=False))
    world.reconcile()
    deploying = world.service()
    assert (deploying.status.phase, deploying.status.message) == (
        "Deploying",
        "application ns.chat.llm is deploying",
    )
    assert deploying.status.deployments[0].running_replicas == 2
    world.kuberay.set_status("RayService", "chat", kuberay_status(answer))
    world.reconcile()
    assert world.service().status.phase == "Running" and world.reasons() == ["Running"]


def test_an_application_serve_would_refuse_fails_the_service_before_any_rayservice(world: World) -> None:
    service = world.service()
    bad = dict(
        service.spec.applications[0],
        deployments=[{"name": "decode", "num_replicas": 1, "max_ongoing_requests": "lots"}],
    )
    world.store.update(
        service.model_copy(update={"spec": service.spec.model_copy(update={"applications": [bad]})})
    )
    world.checkpoint()
    world.admit()
    world.reconcile()
    world.reconcile()
    failed = world.service()
    assert failed.status.phase == "Failed"
    assert str(failed.status.message).startswith(
        "application ns.chat.llm: deployments.0.max_ongoing_requests"
    )
    assert world.declared() == []
    assert world.reasons() == ["InvalidApplication"]


def test_on_kubernetes_a_spec_change_patches_the_rayservice_and_kuberays_copy_answers_without_serve(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, "kuberay")
    world.checkpoint()
    world.admit()
    world.reconcile()
    body = world.kuberay.get("RayService", "ns", "chat")
    assert body["metadata"]["ownerReferences"][0]["uid"] == world.service().metadata.uid
    assert len(body["spec"]["rayClusterConfig"]["workerGroupSpecs"]) == 1, "shaped by ParkCluster gpus"

    world.serve_answers(serve_answer("RUNNING", "HEALTHY", target=3, running=3))
    world.reconcile()
    assert world.service().status.deployments[0].target_replicas == 3

    # The head is out of reach: KubeRay's copy says how Serve is, and the replica numbers stay Serve's last.
    world.proxy.answer = None
    copy = {
        "applicationStatuses": {
            "ns.chat.llm": {
                "status": "UNHEALTHY",
                "message": "",
                "serveDeploymentStatuses": {
                    "decode": {"status": "UNHEALTHY", "message": "replica r1 failed health checks"}
                },
            }
        }
    }
    world.kuberay.set_status(
        "RayService", "chat", {"activeServiceStatus": {"rayClusterName": "chat-x7k2p", **copy}}
    )
    world.reconcile()
    unhealthy = world.service()
    assert (unhealthy.status.phase, unhealthy.status.message) == (
        "Unhealthy",
        "application ns.chat.llm: deployment decode: replica r1 failed health checks",
    )
    (decode,) = unhealthy.status.deployments
    assert (decode.status, decode.target_replicas, decode.running_replicas, decode.observed) == (
        "UNHEALTHY",
        3,
        3,
        True,
    )

    service = world.service()
    app = dict(service.spec.applications[0], args={"model": "/models/other"})
    world.store.update(
        service.model_copy(update={"spec": service.spec.model_copy(update={"applications": [app]})})
    )
    world.reconcile()
    (declared,) = world.declared()
    assert declared["args"]["model"] == "/models/other"


def test_a_rayservice_in_the_way_fails_the_service_once_and_stays_untouched(tmp_path: Path) -> None:
    world = World(tmp_path, "kuberay")
    world.kuberay.create(
        {"kind": "RayService", "metadata": {"name": "chat", "namespace": "ns"}, "spec": {"x": 1}}
    )
    world.checkpoint()
    world.admit()
    for _ in range(3):
        world.reconcile()
        failed = world.service()
        assert failed.status.phase == "Failed", "not flipped back to Deploying by the rest of the plan"
    assert str(failed.status.message).startswith(
        "a RayService named chat that Park did not make is in the way"
    )
    assert world.reasons() == ["DeployRejected"]
    assert world.kuberay.get("RayService", "ns", "chat")["spec"] == {"x": 1}
