"""The KubeRay cluster substrate: one RayCluster per ParkCluster, written only when its spec changes, placed
on the admitted flavor, and read back from the status KubeRay v1.5 writes (ray.io/v1 RayClusterStatus)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from park.control.costs import cluster_cost
from park.control.reconcile.cluster import declaration
from park.control.scheduler.resources import Resources
from park.core.errors import SubstrateError
from park.core.loading import load_documents
from park.core.meta import ObjectMeta
from park.core.resources import Admission, ParkCluster, PodTemplate, Toleration
from park.substrates.kuberay_clusters import KubeRayClusters
from tests.fakes import FakeKubeRay

KEY = "ns.gpus"
GPUS = """
apiVersion: park.dev/v1alpha1
kind: ParkCluster
metadata: {name: gpus}
spec:
  head: {resources: {cpu: 2, memory: 8Gi}}
  workerGroups: [{name: gpu, replicas: 2, resources: {cpu: 4, memory: 16Gi, gpu: 1}}]
"""

# What KubeRay v1.5 writes (calculateStatus, updateEndpoints, updateHeadInfo), with the
# RayClusterStatusConditions feature gate on, as it is by default.
READY: dict[str, Any] = {
    "state": "ready",
    "desiredCPU": "10",
    "desiredMemory": "40Gi",
    "desiredGPU": "2",
    "desiredTPU": "0",
    "readyWorkerReplicas": 2,
    "availableWorkerReplicas": 2,
    "desiredWorkerReplicas": 2,
    "minWorkerReplicas": 2,
    "maxWorkerReplicas": 2,
    "endpoints": {"client": "10001", "dashboard": "8265", "gcs-server": "6379", "metrics": "8080"},
    "head": {
        "podIP": "10.244.0.12",
        "serviceIP": "10.96.14.3",
        "podName": "gpus-head-x8kqz",
        "serviceName": "gpus-head-svc",
    },
    "conditions": [
        {
            "type": "HeadPodReady",
            "status": "True",
            "reason": "HeadPodRunningAndReady",
            "message": "",
            "lastTransitionTime": "2026-05-01T10:00:04Z",
            "observedGeneration": 1,
        },
        {
            "type": "RayClusterProvisioned",
            "status": "True",
            "reason": "AllPodRunningAndReadyFirstTime",
            "message": "All Ray Pods are ready for the first time",
            "lastTransitionTime": "2026-05-01T10:00:09Z",
            "observedGeneration": 1,
        },
    ],
    "lastUpdateTime": "2026-05-01T10:00:09Z",
    "stateTransitionTimes": {"ready": "2026-05-01T10:00:09Z"},
    "observedGeneration": 1,
}
STARTING: dict[str, Any] = {
    **READY,
    "state": "",
    "readyWorkerReplicas": 1,
    "conditions": [
        READY["conditions"][0],
        {
            "type": "RayClusterProvisioned",
            "status": "False",
            "reason": "RayClusterPodsProvisioning",
            "message": "RayCluster Pods are being provisioned for first time",
        },
    ],
}
QUOTA = (
    'pods "gpus-gpu-worker-7xk2p" is forbidden: exceeded quota: gpu-quota, requested: '
    "requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2"
)
FAILED: dict[str, Any] = {
    **STARTING,
    "conditions": [
        *STARTING["conditions"],
        {
            "type": "ReplicaFailure",
            "status": "True",
            "reason": "FailedCreateWorkerPod",
            "message": f"FailedCreateWorkerPod\n{QUOTA}",  # errors.Join(reason, the API server's error)
        },
    ],
}


def parkcluster(admission: Admission | None = None) -> ParkCluster:
    (obj,) = load_documents(GPUS, source="test")
    assert isinstance(obj, ParkCluster)
    meta = ObjectMeta(name="gpus", namespace="ns", uid="uid-1", generation=1)
    return obj.model_copy(
        update={"metadata": meta, "status": obj.status.model_copy(update={"admission": admission})}
    )


@pytest.fixture
def ray() -> FakeKubeRay:
    return FakeKubeRay()


def adapter(ray: FakeKubeRay, pods: PodTemplate | None = None) -> KubeRayClusters:
    return KubeRayClusters(
        api_client=k8s.ApiClient(), pods=pods or PodTemplate(image="img:1"), ray_version="2.60.0", objects=ray
    )


def test_no_raycluster_is_no_cluster(ray: FakeKubeRay) -> None:
    seen = adapter(ray).observe_cluster(KEY, declaration(parkcluster()))
    assert (seen.handle, seen.resources) == (None, {})


def test_the_raycluster_is_created_owned_and_written_again_only_when_its_spec_changes(
    ray: FakeKubeRay,
) -> None:
    clusters, cluster = adapter(ray), parkcluster()
    clusters.declare_cluster(KEY, declaration(cluster))
    body = ray.get("RayCluster", "ns", "gpus")
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert body["metadata"]["labels"]["park.dev/owner-kind"] == "ParkCluster"
    assert body["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] == "img:1"
    assert clusters.observe_cluster(KEY, declaration(cluster)).current
    writes = ray.writes
    clusters.declare_cluster(KEY, declaration(cluster))
    assert ray.writes == writes, "the same spec: no write"

    group = cluster.spec.worker_groups[0].model_copy(update={"replicas": 3, "max_replicas": 3})
    grown = cluster.model_copy(update={"spec": cluster.spec.model_copy(update={"worker_groups": [group]})})
    assert not clusters.observe_cluster(KEY, declaration(grown)).current
    clusters.declare_cluster(KEY, declaration(grown))
    assert ray.get("RayCluster", "ns", "gpus")["spec"]["workerGroupSpecs"][0]["replicas"] == 3
    assert clusters.observe_cluster(KEY, declaration(grown)).current

    # The operator's pod defaults are part of the spec: a new image reaches the RayCluster too.
    assert not adapter(ray, PodTemplate(image="img:2")).observe_cluster(KEY, declaration(grown)).current


def test_a_cluster_admitted_on_a_flavor_runs_its_pods_on_that_flavors_nodes(ray: FakeKubeRay) -> None:
    admission = Admission(
        admitted=True,
        queue="team",
        flavor="a100",
        node_selector={"gpu": "a100"},
        tolerations=[Toleration(key="gpu", operator="Exists", effect="NoSchedule")],
    )
    adapter(ray).declare_cluster(KEY, declaration(parkcluster(admission)))
    spec = ray.get("RayCluster", "ns", "gpus")["spec"]
    for template in (spec["headGroupSpec"]["template"], spec["workerGroupSpecs"][0]["template"]):
        assert template["spec"]["nodeSelector"] == {"gpu": "a100"}
        assert template["spec"]["tolerations"] == [
            {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]


def test_a_ready_raycluster_is_reached_through_its_head_service_and_holds_what_its_pods_hold(
    ray: FakeKubeRay,
) -> None:
    clusters, cluster = adapter(ray), parkcluster()
    clusters.declare_cluster(KEY, declaration(cluster))
    ray.set_status("RayCluster", "gpus", READY)
    seen = clusters.observe_cluster(KEY, declaration(cluster))
    assert (seen.readiness, seen.message) == ("Ready", "all Ray pods are ready")
    assert seen.handle is not None
    assert seen.handle.dashboard_url == "http://gpus-head-svc.ns.svc:8265"
    assert seen.handle.gcs_address == "gpus-head-svc.ns.svc:6379"
    assert seen.resources == {"CPU": 10.0, "GPU": 2.0, "memory": 40.0 * 2**30}
    assert cluster_cost(cluster.spec).total == Resources.of(cpu=10, gpu=2, memory="40Gi"), (
        "what the queue pays"
    )
    assert [(c.type, c.status, c.reason) for c in seen.conditions] == [
        ("HeadPodReady", "True", "HeadPodRunningAndReady"),
        ("RayClusterProvisioned", "True", "AllPodRunningAndReadyFirstTime"),
    ]


def test_a_starting_raycluster_says_its_progress_and_a_pod_failure_fails_it(ray: FakeKubeRay) -> None:
    clusters, cluster = adapter(ray), parkcluster()
    clusters.declare_cluster(KEY, declaration(cluster))
    assert clusters.observe_cluster(KEY, declaration(cluster)).message == (
        "waiting for KubeRay to report the RayCluster"
    )
    ray.set_status("RayCluster", "gpus", STARTING)
    starting = clusters.observe_cluster(KEY, declaration(cluster))
    assert (starting.readiness, starting.message) == ("Starting", "1/2 workers ready")

    head_down = {
        **READY,
        "conditions": [{"type": "HeadPodReady", "status": "False", "reason": "ContainersNotReady"}],
    }
    ray.set_status("RayCluster", "gpus", head_down)  # `state` stays "ready" once set, the head pod says more
    assert clusters.observe_cluster(KEY, declaration(cluster)).message == (
        "2/2 workers ready, head pod not ready (ContainersNotReady)"
    )

    ray.set_status("RayCluster", "gpus", FAILED)
    failed = clusters.observe_cluster(KEY, declaration(cluster))
    assert (failed.readiness, failed.message) == ("Failed", f"FailedCreateWorkerPod: {QUOTA}")


def test_a_raycluster_park_did_not_make_is_named_and_left_alone(ray: FakeKubeRay) -> None:
    ray.create({"kind": "RayCluster", "metadata": {"name": "gpus", "namespace": "ns"}, "spec": {"x": 1}})
    clusters, cluster = adapter(ray), parkcluster()
    seen = clusters.observe_cluster(KEY, declaration(cluster))
    assert (seen.handle, seen.readiness) == (None, "Failed")
    assert seen.message.startswith("a RayCluster named gpus that Park did not make is in the way")
    clusters.stop_cluster(KEY)
    assert ray.get("RayCluster", "ns", "gpus")["spec"] == {"x": 1}


def test_an_older_parkclusters_raycluster_is_waited_for(ray: FakeKubeRay) -> None:
    clusters, old = adapter(ray), parkcluster()
    clusters.declare_cluster(KEY, declaration(old))
    new = old.model_copy(update={"metadata": old.metadata.model_copy(update={"uid": "uid-2"})})
    seen = clusters.observe_cluster(KEY, declaration(new))
    assert (seen.handle, seen.readiness, seen.message) == (
        None,
        "Starting",
        "an older RayCluster of that name is being deleted",
    )


def test_stopping_deletes_the_parkclusters_raycluster(ray: FakeKubeRay) -> None:
    clusters = adapter(ray)
    clusters.declare_cluster(KEY, declaration(parkcluster()))
    clusters.stop_cluster(KEY)
    clusters.stop_cluster(KEY)  # gone is fine
    assert ray.get("RayCluster", "ns", "gpus") is None


def test_a_raycluster_the_watch_cache_cannot_see_is_named_when_creating_meets_it() -> None:
    """The operator's cache holds only RayClusters labelled as Park's: another one shows at creation."""

    class Unseen(FakeKubeRay):
        def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
            exc = ApiException(status=409, reason="Conflict")
            exc.body = json.dumps({"kind": "Status", "reason": "AlreadyExists", "code": 409})
            raise exc

    with pytest.raises(SubstrateError, match="a RayCluster named gpus that Park did not make is in the way"):
        adapter(Unseen()).declare_cluster(KEY, declaration(parkcluster()))
