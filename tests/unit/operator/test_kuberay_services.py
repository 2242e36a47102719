"""The KubeRay service substrate: Serve's answer through the API server's proxy, KubeRay's copy when the
head is out of reach, and one RayService per service (created, patched on change, never someone else's)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from park.core.errors import SubstrateError, SubstrateUnavailableError
from park.core.meta import ObjectMeta
from park.core.resources import (
    ParkClusterSpec,
    ParkService,
    ParkServiceSpec,
    PodTemplate,
    ServiceAdmission,
    Toleration,
    WorkerGroupSpec,
)
from park.substrates.interface import ServeDeclaration
from park.substrates.kuberay_services import KubeRayServices, rayservice_spec, serving_status
from park.substrates.kuberay_specs import SPEC_HASH
from tests.fakes import FakeKubeRay

APP = {
    "name": "ns.chat.llm",
    "route_prefix": "/ns/chat",
    "import_path": "park.workloads.serve.app:build",
    "args": {"model": "s3://park/jobs/ns/charlm/checkpoints/step-40"},
    "deployments": [{"name": "decode", "num_replicas": 2, "ray_actor_options": {"num_gpus": 1}}],
}

# What Serve 2.60 answers to GET /api/serve/applications/ (ServeInstanceDetails), less fields Park ignores.
SERVE_ANSWER: dict[str, Any] = {
    "controller_info": {"node_id": "4f1c", "node_ip": "10.244.0.12", "actor_name": "SERVE_CONTROLLER_ACTOR"},
    "proxy_location": "EveryNode",
    "http_options": {"host": "0.0.0.0", "port": 8000, "root_path": ""},  # noqa: S104 (an answer, not a bind)
    "proxies": {"4f1c": {"node_id": "4f1c", "status": "HEALTHY", "actor_name": "SERVE_PROXY_ACTOR-4f1c"}},
    "deploy_mode": "MULTI_APP",
    "target_capacity": None,
    "applications": {
        "ns.chat.llm": {
            "name": "ns.chat.llm",
            "route_prefix": "/ns/chat",
            "docs_path": None,
            "status": "RUNNING",
            "message": "",
            "last_deployed_time_s": 1764500000.25,
            "source": "declarative",
            "deployed_app_config": APP,
            "deployments": {
                "decode": {
                    "name": "decode",
                    "status": "UPSCALING",
                    "status_trigger": "AUTOSCALING",
                    "message": "Upscaling from 2 to 3 replicas.",
                    "deployment_config": {"name": "decode", "num_replicas": 2, "max_ongoing_requests": 5},
                    "target_num_replicas": 3,
                    "required_resources": {"CPU": 1, "GPU": 1},
                    "replicas": [
                        {"replica_id": "a1", "state": "RUNNING", "pid": 301, "node_ip": "10.244.0.13"},
                        {"replica_id": "b2", "state": "RUNNING", "pid": 302, "node_ip": "10.244.0.14"},
                        {"replica_id": "c3", "state": "STARTING", "pid": None, "node_ip": None},
                    ],
                }
            },
        }
    },
}

# What KubeRay 1.5 writes to a RayService's status while its first cluster is prepared (pending).
RAYSERVICE_STATUS: dict[str, Any] = {
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Initializing",
            "message": "",
            "lastTransitionTime": "2026-11-30T12:00:00Z",
            "observedGeneration": 1,
        },
        {"type": "UpgradeInProgress", "status": "False", "reason": "NoActiveCluster", "message": ""},
    ],
    "activeServiceStatus": {},
    "pendingServiceStatus": {
        "rayClusterName": "chat-hp6wt",
        "rayClusterStatus": {"state": "ready", "head": {"serviceName": "chat-hp6wt-head-svc"}},
        "applicationStatuses": {
            "ns.chat.llm": {
                "status": "DEPLOY_FAILED",
                "message": "Failed to update the deployments ['decode'].",
                "serveDeploymentStatuses": {
                    "decode": {
                        "status": "DEPLOY_FAILED",
                        "message": "The deployment failed to start 3 times in a row.\n"
                        "park.workloads.models.charlm.CheckpointFormatError: /models/x holds no charlm.json",
                    }
                },
            }
        },
    },
    "observedGeneration": 1,
    "lastUpdateTime": "2026-11-30T12:01:00Z",
}


class FakeProxy:
    """The API server's service proxy: Serve's answer per head Service, or the error it returns."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any] | ApiException] = {}
        self.calls: list[tuple[str, str, str]] = []

    def connect_get_namespaced_service_proxy_with_path(
        self, name: str, namespace: str, path: str, *, _preload_content: bool, _request_timeout: float
    ) -> Any:
        assert _preload_content is False and _request_timeout > 0
        self.calls.append((name, namespace, path))
        answer = self.answers.get(name, ApiException(status=503, reason="Service Unavailable"))
        if isinstance(answer, ApiException):
            raise answer
        return SimpleNamespace(data=json.dumps(answer).encode())


def service(uid: str = "uid-chat") -> ParkService:
    return ParkService(
        metadata=ObjectMeta(name="chat", namespace="ns", uid=uid),
        spec=ParkServiceSpec(applications=[{"name": "llm", "import_path": "park.workloads.serve.app:build"}]),
    )


@pytest.fixture
def kuberay() -> tuple[FakeKubeRay, FakeProxy, KubeRayServices]:
    objects, proxy = FakeKubeRay(), FakeProxy()
    adapter = KubeRayServices(
        api_client=k8s.ApiClient(),
        pods=PodTemplate(image="img"),
        ray_version="2.60.0",
        objects=objects,
        proxy=proxy,
    )
    return objects, proxy, adapter


def declare(
    adapter: KubeRayServices, apps: list[dict[str, Any]], cluster: ParkClusterSpec | None = None
) -> None:
    handle = adapter.get_cluster("ns.chat")
    adapter.deploy_applications(handle, ServeDeclaration(applications=apps, cluster=cluster, owner=service()))


def test_a_services_cluster_is_its_rayservice_served_by_kuberays_serve_service(kuberay: Any) -> None:
    _, _, adapter = kuberay
    handle = adapter.get_cluster("ns.chat")
    assert handle.serve_url == "http://chat-serve-svc.ns.svc:8000"
    assert adapter.serve_applications(handle) == {}, "no RayService yet: Serve runs nothing"


def test_the_rayservice_carries_the_applications_as_serve_config_v2_and_the_named_clusters_shape() -> None:
    template = ParkClusterSpec(worker_groups=[WorkerGroupSpec(name="g", replicas=2)])
    spec = rayservice_spec([APP], cluster=template, pods=PodTemplate(image="img"), ray_version="2.60.0")
    assert yaml.safe_load(spec["serveConfigV2"]) == {"applications": [APP]}
    assert spec["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"] == 2
    assert spec["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] == "img"


def test_it_is_created_owned_by_the_service_and_patched_only_when_the_declaration_changes(
    kuberay: Any,
) -> None:
    objects, _, adapter = kuberay
    declare(adapter, [APP])
    body = objects.get("RayService", "ns", "chat")
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-chat"
    assert body["metadata"]["labels"]["park.dev/owner-kind"] == "ParkService"
    writes = objects.writes
    declare(adapter, [APP])
    assert objects.writes == writes, "the same declaration writes nothing"

    declare(adapter, [{**APP, "args": {"model": "s3://park/step-80"}}])
    patched = objects.get("RayService", "ns", "chat")
    assert "s3://park/step-80" in patched["spec"]["serveConfigV2"]
    assert patched["metadata"]["annotations"][SPEC_HASH] != body["metadata"]["annotations"][SPEC_HASH]
    declare(adapter, [APP], ParkClusterSpec(worker_groups=[WorkerGroupSpec(name="g", replicas=3)]))
    assert (
        objects.get("RayService", "ns", "chat")["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"]
        == 3
    )


def test_a_rayservice_that_is_not_this_services_is_never_touched(kuberay: Any) -> None:
    objects, _, adapter = kuberay
    objects.create({"kind": "RayService", "metadata": {"name": "chat", "namespace": "ns"}, "spec": {"x": 1}})
    with pytest.raises(SubstrateError, match="that Park did not make is in the way"):
        declare(adapter, [APP])
    assert objects.get("RayService", "ns", "chat")["spec"] == {"x": 1}

    objects.delete("RayService", "ns", "chat")
    old = ParkService(metadata=ObjectMeta(name="chat", namespace="ns", uid="uid-old"), spec=service().spec)
    adapter.deploy_applications(
        adapter.get_cluster("ns.chat"), ServeDeclaration(applications=[APP], owner=old)
    )  # the RayService of a deleted service of the same name, which the garbage collector has not reached
    with pytest.raises(SubstrateUnavailableError, match="older RayService chat is being deleted"):
        declare(adapter, [APP])


def test_a_spec_the_api_server_refuses_is_a_rejection_and_an_outage_a_retry(kuberay: Any) -> None:
    objects, _, adapter = kuberay

    def refuse(status: int) -> None:
        def create(body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
            raise ApiException(status=status, reason="Refused")

        objects.create = create

    refuse(422)
    with pytest.raises(SubstrateError, match="Kubernetes refused RayService chat") as refused:
        declare(adapter, [APP])
    assert not isinstance(refused.value, SubstrateUnavailableError)
    refuse(503)
    with pytest.raises(SubstrateUnavailableError):
        declare(adapter, [APP])


def test_serve_is_read_on_the_head_through_the_proxy_with_replica_counts(kuberay: Any) -> None:
    objects, proxy, adapter = kuberay
    declare(adapter, [APP])
    objects.set_status("RayService", "chat", RAYSERVICE_STATUS)
    proxy.answers["chat-hp6wt-head-svc:dashboard"] = SERVE_ANSWER
    apps = adapter.serve_applications(adapter.get_cluster("ns.chat"))
    assert proxy.calls == [("chat-hp6wt-head-svc:dashboard", "ns", "api/serve/applications/")]
    app = apps["ns.chat.llm"]
    assert (app.status, app.route_prefix) == ("DEPLOYING", "/ns/chat"), (
        "running, but nothing routes to it yet"
    )
    decode = app.deployments["decode"]
    assert (decode.status, decode.target_replicas, decode.running_replicas) == ("UPSCALING", 3, 2)
    assert decode.replica_resources == {"cpu": 1.0, "gpu": 1.0}
    assert decode.replica_states == {"RUNNING": 2, "STARTING": 1}

    ready = {"type": "Ready", "status": "True", "reason": "NonZeroServeEndpoints", "message": ""}
    objects.set_status("RayService", "chat", {**RAYSERVICE_STATUS, "conditions": [ready]})
    assert adapter.serve_applications(adapter.get_cluster("ns.chat"))["ns.chat.llm"].status == "RUNNING"


def test_kuberays_copy_answers_when_the_head_is_out_of_reach(kuberay: Any) -> None:
    objects, proxy, adapter = kuberay
    declare(adapter, [APP])
    objects.set_status("RayService", "chat", RAYSERVICE_STATUS)  # the proxy answers 503
    app = adapter.serve_applications(adapter.get_cluster("ns.chat"))["ns.chat.llm"]
    assert (app.status, app.message) == ("DEPLOY_FAILED", "Failed to update the deployments ['decode'].")
    decode = app.deployments["decode"]
    assert decode.status == "DEPLOY_FAILED" and "CheckpointFormatError" in decode.message
    assert (decode.target_replicas, decode.running_replicas) == (None, None), (
        "KubeRay does not count replicas"
    )

    proxy.answers["chat-hp6wt-head-svc:dashboard"] = {"unexpected": "shape", "applications": {"x": {}}}
    assert "ns.chat.llm" in adapter.serve_applications(adapter.get_cluster("ns.chat")), (
        "unreadable: KubeRay's"
    )


def test_the_cluster_read_is_the_one_kuberay_deploys_to_pending_first() -> None:
    active = {"rayClusterName": "chat-old", "applicationStatuses": {}}
    pending = {"rayClusterName": "chat-new"}
    assert serving_status({"status": {"activeServiceStatus": active}})["rayClusterName"] == "chat-old"
    both = {"status": {"activeServiceStatus": active, "pendingServiceStatus": pending}}
    assert serving_status(both)["rayClusterName"] == "chat-new"
    assert serving_status({"status": {"pendingServiceStatus": {}}}) == {}


def test_a_service_admitted_on_a_flavor_runs_its_pods_on_that_flavors_nodes(kuberay: Any) -> None:
    objects, _, adapter = kuberay
    admitted = service()
    grant = ServiceAdmission(
        queue="gpus", flavor="h100", node_selector={"pool": "h100"}, tolerations=[Toleration(key="gpu")]
    )
    admitted = admitted.model_copy(update={"status": admitted.status.model_copy(update={"admission": grant})})
    adapter.deploy_applications(
        adapter.get_cluster("ns.chat"), ServeDeclaration(applications=[APP], owner=admitted)
    )
    head = objects.get("RayService", "ns", "chat")["spec"]["rayClusterConfig"]["headGroupSpec"]
    assert head["template"]["spec"]["nodeSelector"] == {"pool": "h100"}
    assert head["template"]["spec"]["tolerations"] == [{"key": "gpu"}]
