"""Park specs → KubeRay specs: resources as pod limits, the job's gang as its workers, the contract env."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from park.control.reconcile.submission import build_submission
from park.core.loading import load_documents
from park.core.resources import Admission, AnyResource, ParkCluster, ParkJob, PodTemplate, Toleration
from park.operator.settings import DEFAULT_RAY_IMAGE, OperatorSettings
from park.substrates.interface import ClusterHandle, HeadConfig, JobSubmission
from park.substrates.kuberay_jobs import KubeRayJobs, job_info, rayjob_body, rayjob_name
from park.substrates.kuberay_specs import (
    ATTEMPT,
    GPU_RESOURCE,
    OWNER_NAME,
    SPEC_HASH,
    admitted_cluster_spec,
    child_object,
    job_cluster_spec,
    ray_cluster_spec,
    spec_hash,
)
from tests.fakes import FakeKubeRay


def parse(text: str) -> AnyResource:
    (obj,) = load_documents(text, source="test")
    return obj.model_copy(
        update={"metadata": obj.metadata.model_copy(update={"namespace": "ns", "uid": "0123abcd-ffff"})}
    )


CLUSTER = """
apiVersion: park.dev/v1alpha1
kind: ParkCluster
metadata: {name: gpus}
spec:
  head: {resources: {cpu: 2, memory: 8Gi}, rayStartParams: {num-cpus: "0"}}
  workerGroups:
    - {name: a100, replicas: 2, maxReplicas: 4,
       resources: {cpu: 8, memory: 32Gi, gpu: 1, accelerator: A100, custom: {tpu-ish: 2}}}
    - {name: cpu, replicas: 0, minReplicas: 3}
"""
JOB = """
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: train}
spec:
  workload: {name: train, params: {epochs: 2}}
  resources: {replicas: 3, perReplica: {cpu: 4, gpu: 2}}
  runtimeEnv: {env_vars: {MINE: "1"}, pip: [torch]}
  entrypointResources: {cpu: 1, custom: {driver: 1}}
  retries: 2
"""


def cluster() -> ParkCluster:
    obj = parse(CLUSTER)
    assert isinstance(obj, ParkCluster)
    return obj


def job(**status: Any) -> ParkJob:
    obj = parse(JOB)
    assert isinstance(obj, ParkJob)
    return obj.model_copy(update={"status": obj.status.model_copy(update=status)})


def test_cluster_resources_are_pod_limits_with_gpus_as_nvidia_gpu() -> None:
    spec = ray_cluster_spec(cluster().spec, pods=PodTemplate(image="img:1"), ray_version="2.60.0")
    head = spec["headGroupSpec"]
    (container,) = head["template"]["spec"]["containers"]
    assert container["image"] == "img:1"
    assert container["resources"] == {
        "limits": {"cpu": "2", "memory": "8Gi"},
        "requests": {"cpu": "2", "memory": "8Gi"},
    }
    assert head["rayStartParams"] == {"dashboard-host": "0.0.0.0", "num-cpus": "0"}  # noqa: S104
    assert {p["containerPort"] for p in container["ports"]} >= {6379, 8265, 10001}
    a100, cpu = spec["workerGroupSpecs"]
    limits = a100["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "8", "memory": "32Gi", GPU_RESOURCE: 1}
    assert (a100["groupName"], a100["replicas"], a100["minReplicas"], a100["maxReplicas"]) == (
        "a100",
        2,
        0,
        4,
    )
    assert json.loads(a100["rayStartParams"]["resources"]) == {"accelerator_type:A100": 1.0, "tpu-ish": 2.0}
    # KubeRay rejects min > replicas or max < replicas: the bounds are clamped around replicas.
    assert (cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == (0, 0, 0)


def test_an_admin_may_overcommit_cpu_requests_while_ray_counts_the_limits() -> None:
    defaults = PodTemplate(image="img:1", cpu_request_ratio=0.25)
    spec = ray_cluster_spec(cluster().spec, pods=defaults, ray_version="2.60.0")
    (head,) = spec["headGroupSpec"]["template"]["spec"]["containers"]
    assert head["resources"] == {
        "limits": {"cpu": "2", "memory": "8Gi"},
        "requests": {"cpu": "500m", "memory": "8Gi"},  # memory is never overcommitted
    }
    a100 = spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]
    assert a100["requests"] == {"cpu": "2000m", "memory": "32Gi", GPU_RESOURCE: 1}
    own = cluster().spec.model_copy(update={"pods": PodTemplate(cpu_request_ratio=0.5)})
    (mine,) = ray_cluster_spec(own, pods=defaults, ray_version="v")["headGroupSpec"]["template"]["spec"][
        "containers"
    ]
    assert mine["resources"]["requests"]["cpu"] == "1000m"  # the cluster's own template wins


def test_the_default_image_is_ray_2_60_and_a_setting_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorSettings().ray_image == DEFAULT_RAY_IMAGE == "rayproject/ray:2.60.0"
    monkeypatch.setenv("PARK_OPERATOR_RAY_IMAGE", "registry.local/ray:custom")
    assert OperatorSettings().ray_image == "registry.local/ray:custom"


def test_pods_take_the_operator_defaults_under_the_clusters_own_template() -> None:
    defaults = PodTemplate(
        image="park:1",
        image_pull_policy="Never",
        node_selector={"zone": "a", "pool": "default"},
        tolerations=[Toleration(key="park.dev/real-node", operator="Exists", effect="NoSchedule")],
        volumes=[{"name": "venv", "hostPath": {"path": "/opt/venv"}}],
        volume_mounts=[{"name": "venv", "mountPath": "/opt/venv", "readOnly": True}],
        env={"A": "default", "B": "default"},
    )
    mine = cluster().spec.model_copy(
        update={"pods": PodTemplate(image="park:2", node_selector={"pool": "gpu"}, env={"B": "mine"})}
    )
    spec = ray_cluster_spec(mine, pods=defaults, ray_version="2.60.0")
    for pod in [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]:
        (container,) = pod["spec"]["containers"]
        assert container["image"] == "park:2" and container["imagePullPolicy"] == "Never"
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == {"A": "default", "B": "mine", "RAY_AUTH_MODE": "disabled"}
        assert container["volumeMounts"] == [{"name": "venv", "mountPath": "/opt/venv", "readOnly": True}]
        assert pod["spec"]["volumes"] == [{"name": "venv", "hostPath": {"path": "/opt/venv"}}]
        assert pod["spec"]["nodeSelector"] == {"zone": "a", "pool": "gpu"}
        assert pod["spec"]["tolerations"] == [
            {"key": "park.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}
        ]


def test_a_jobs_cluster_keeps_its_templates_pods() -> None:
    template = cluster().spec.model_copy(update={"pods": PodTemplate(image="park:3")})
    assert job_cluster_spec(job(), template).pods.image == "park:3"


def test_pod_defaults_come_from_one_json_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PARK_OPERATOR_PODS", json.dumps({"imagePullPolicy": "IfNotPresent", "nodeSelector": {"a": "b"}})
    )
    monkeypatch.setenv("PARK_OPERATOR_RAY_IMAGE", "park:9")
    pods = OperatorSettings().pod_defaults()
    assert (pods.image, pods.image_pull_policy, pods.node_selector) == ("park:9", "IfNotPresent", {"a": "b"})


def test_children_are_owned_labelled_and_hashed() -> None:
    owner = cluster()
    spec = ray_cluster_spec(owner.spec, pods=PodTemplate(image="i"), ray_version="v")
    body = child_object("RayCluster", owner, spec)
    assert body["apiVersion"] == "ray.io/v1" and body["kind"] == "RayCluster"
    assert body["metadata"]["name"] == "gpus" and body["metadata"]["namespace"] == "ns"
    (ref,) = body["metadata"]["ownerReferences"]
    assert ref == {
        "apiVersion": "park.dev/v1alpha1",
        "kind": "ParkCluster",
        "name": "gpus",
        "uid": "0123abcd-ffff",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert body["metadata"]["labels"][OWNER_NAME] == "gpus"
    assert body["metadata"]["annotations"][SPEC_HASH] == spec_hash(spec)
    assert spec_hash(spec) != spec_hash({**spec, "rayVersion": "other"})


def test_a_job_brings_a_cluster_sized_like_its_admitted_gang() -> None:
    spec = job_cluster_spec(job(), cluster().spec)
    assert spec.head == cluster().spec.head
    (gang,) = spec.worker_groups
    assert (gang.replicas, gang.min_replicas, gang.max_replicas) == (3, 3, 3)
    assert gang.resources.gpu == 2
    no_gang = job().model_copy(update={"spec": job().spec.model_copy(update={"resources": None})})
    assert job_cluster_spec(no_gang, cluster().spec).worker_groups == cluster().spec.worker_groups
    assert job_cluster_spec(no_gang, None).worker_groups == []


def submission(parked: ParkJob, attempt: int = 1) -> JobSubmission:
    return build_submission(parked, attempt, jobs_root="s3://park/jobs", template=cluster().spec)


def rayjob(parked: ParkJob, *, attempt: int, pods: PodTemplate | None = None) -> dict[str, Any]:
    return rayjob_body(
        submission(parked, attempt),
        cluster=job_cluster_spec(parked, cluster().spec),
        pods=pods or PodTemplate(image="img"),
        ray_version="2.60.0",
    )


def test_an_attempt_is_a_rayjob_with_its_submission_id_and_the_park_contract() -> None:
    body = rayjob(job(), attempt=1)
    spec = body["spec"]
    assert body["metadata"]["name"] == rayjob_name(spec["jobId"]) == "park-ns-train-0123abcd-1"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "0123abcd-ffff"
    assert body["metadata"]["labels"][OWNER_NAME] == "train" and body["metadata"]["labels"][ATTEMPT] == "1"
    assert spec["shutdownAfterJobFinishes"] is True and spec["submissionMode"] == "K8sJobMode"
    assert spec["backoffLimit"] == 0, "retries are the planner's, as on park up"
    assert spec["entrypoint"] == "python -m park.workloads.train"
    assert spec["entrypointNumCpus"] == 1 and json.loads(spec["entrypointResources"]) == {"driver": 1}
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["pip"] == ["torch"]
    env = runtime_env["env_vars"]
    assert env["MINE"] == "1" and env["PARK_ATTEMPT"] == "1" and env["PARK_JOB_NAME"] == "train"
    assert env["PARK_JOB_DIR"] == "s3://park/jobs/ns/train-0123abcd"
    assert env["PARK_CHECKPOINT_DIR"] == "s3://park/jobs/ns/train-0123abcd/checkpoints"
    assert json.loads(env["PARK_WORKLOAD_PARAMS"]) == {"epochs": 2}
    assert "PARK_RESUME_FROM" not in env
    limits = spec["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]
    assert limits["limits"][GPU_RESOURCE] == 2


def test_a_resumed_attempt_names_its_checkpoint() -> None:
    body = rayjob(job(checkpoint="s3://park/jobs/ns/train/checkpoints/step-40"), attempt=2)
    env = yaml.safe_load(body["spec"]["runtimeEnvYAML"])["env_vars"]
    assert (
        env["PARK_ATTEMPT"] == "2"
        and env["PARK_RESUME_FROM"] == "s3://park/jobs/ns/train/checkpoints/step-40"
    )
    assert body["metadata"]["name"].endswith("-2")


def test_long_names_are_shortened_for_kuberay_and_stay_distinct() -> None:
    long_a = "park-a-namespace-with-a-long-name-a-job-with-a-long-name-0123abcd-1"
    long_b = long_a[:-1] + "2"
    assert len(rayjob_name(long_a)) <= 47 and rayjob_name(long_a) != rayjob_name(long_b)
    assert rayjob_name("park-ns-a-1") == "park-ns-a-1"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, ("PENDING", "")),
        ({"jobDeploymentStatus": "Initializing"}, ("PENDING", "")),
        ({"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}, ("RUNNING", "")),
        ({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, ("SUCCEEDED", "")),
        ({"jobStatus": "STOPPED", "message": "stopped by Park"}, ("STOPPED", "stopped by Park")),
        (
            {"jobStatus": "FAILED", "message": "Traceback ... ValueError"},
            ("FAILED", "Traceback ... ValueError"),
        ),
        ({"jobDeploymentStatus": "Failed", "reason": "SubmissionFailed"}, ("FAILED", "SubmissionFailed")),
    ],
)
def test_ray_job_status_comes_from_the_rayjob(status: dict[str, Any], expected: tuple[str, str]) -> None:
    info = job_info("sid", {"status": status})
    assert (info.status, info.message) == expected


def test_the_submitter_pod_runs_where_the_clusters_pods_run_and_asks_little() -> None:
    pods = PodTemplate(
        image="park:1",
        tolerations=[Toleration(key="dedicated", operator="Exists")],
        volumes=[{"name": "data", "emptyDir": {}}],
        volume_mounts=[{"name": "data", "mountPath": "/data"}],
    )
    submitter = rayjob(job(), attempt=1, pods=pods)["spec"]["submitterPodTemplate"]["spec"]
    (container,) = submitter["containers"]
    assert container["image"] == "park:1" and container["volumeMounts"] == [
        {"name": "data", "mountPath": "/data"}
    ]
    assert submitter["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert (
        submitter["volumes"] == [{"name": "data", "emptyDir": {}}] and submitter["restartPolicy"] == "Never"
    )
    assert container["resources"]["requests"]["cpu"] == "100m"


def test_a_job_admitted_on_a_flavor_runs_every_pod_on_that_flavors_nodes() -> None:
    """The flavor's nodeLabels join the cluster's nodeSelector (and win), its tolerations are added."""
    gpu_taint = Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
    admission = Admission(
        admitted=True,
        flavor="h100-us-east",
        node_selector={"topology.kubernetes.io/zone": "us-east1-b", "pool": "h100"},
        tolerations=[gpu_taint],
    )
    own = PodTemplate(node_selector={"pool": "any", "team": "a"}, tolerations=[Toleration(key="team-a")])
    template = cluster().spec.model_copy(update={"pods": own})
    body = rayjob_body(
        submission(job(admission=admission)),
        cluster=job_cluster_spec(job(admission=admission), template),
        pods=PodTemplate(image="img"),
        ray_version="2.60.0",
    )
    spec = body["spec"]
    pods = [
        spec["rayClusterSpec"]["headGroupSpec"]["template"],
        spec["rayClusterSpec"]["workerGroupSpecs"][0]["template"],
        spec["submitterPodTemplate"],
    ]
    for pod in pods:
        assert pod["spec"]["nodeSelector"] == {
            "pool": "h100",
            "team": "a",
            "topology.kubernetes.io/zone": "us-east1-b",
        }
        assert pod["spec"]["tolerations"] == [
            {"key": "team-a"},
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        ]


def test_a_job_on_a_queue_without_flavors_keeps_its_clusters_placement() -> None:
    plain = Admission(admitted=True, queue="default")
    template = cluster().spec.model_copy(update={"pods": PodTemplate(node_selector={"pool": "any"})})
    assert job_cluster_spec(job(admission=plain), template).pods == template.pods


def test_a_charged_cluster_admitted_on_a_flavor_is_placed_on_its_nodes() -> None:
    admission = Admission(admitted=True, flavor="a100", node_selector={"gpu": "a100"})
    spec = ray_cluster_spec(
        admitted_cluster_spec(cluster().spec, admission), pods=PodTemplate(image="i"), ray_version="v"
    )
    for group in (spec["headGroupSpec"], *spec["workerGroupSpecs"]):
        assert group["template"]["spec"]["nodeSelector"] == {"gpu": "a100"}


def test_a_finished_attempts_logs_are_read_from_the_ray_head_as_json() -> None:
    """Through the service proxy, raw: the generated client would turn the JSON answer into a Python repr."""

    class Proxy:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str, str, bool]] = []

        def connect_get_namespaced_service_proxy_with_path(
            self, name: str, namespace: str, path: str, *, _preload_content: bool, _request_timeout: float
        ) -> object:
            self.calls.append((name, namespace, path, _preload_content))
            return SimpleNamespace(data=b'{"logs": "hello from Park: done\\n"}')

    objects = FakeKubeRay()
    sid = "park-ns-hello-0123abcd-1"
    objects.create(
        {
            "kind": "RayJob",
            "metadata": {"name": rayjob_name(sid), "namespace": "ns"},
            "status": {"rayClusterName": "hello-raycluster-x", "jobStatus": "SUCCEEDED"},
        }
    )
    jobs = KubeRayJobs(api_client=k8s.ApiClient(), pods=PodTemplate(), ray_version="2.60.0", objects=objects)  # type: ignore[arg-type]
    proxy = Proxy()
    jobs._core = proxy  # type: ignore[assignment]
    handle = ClusterHandle(
        key="ns.default", dashboard_url="", gcs_address="", token="", pid=0, config=HeadConfig(0)
    )
    assert jobs.job_logs(handle, sid) == "hello from Park: done\n"
    assert proxy.calls == [("hello-raycluster-x-head-svc:dashboard", "ns", f"api/jobs/{sid}/logs", False)]
