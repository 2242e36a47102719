"""Ray for real under the operator: pods on the e2e cluster's real node (kubelet + containerd + runc).

A ParkCluster's head and worker pods start Ray, the worker joins the head through cluster DNS, and
`kubectl logs` / `kubectl exec` reach them; a ParkJob applied with kubectl runs its program on a real
Ray head to Succeeded, its output readable with `kubectl logs`.

The pods run the runtime image `e2e/cluster/up` builds (Debian plus the libraries CPython needs) with
this machine's Python, virtualenv and checkout mounted read-only at the same paths, which is far cheaper
than a multi-GB image per run; the operator's pod defaults (PARK_OPERATOR_PODS) say so, as a cluster
admin would, so the Park objects themselves are the same YAML as on `park up`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from park.operator.jobs import kubernetes_job_logs
from park.operator.settings import OperatorSettings
from park.operator.store import KubernetesStore

from .conftest import REPO, kubectl
from .test_operator import Operator, apply, get, service_account_kubeconfig, status, temporary_queue, wait_for

pytestmark = pytest.mark.e2e
REAL_NODE = "park.dev/real-node"
RUNTIME_IMAGE = "park.local/park-runtime:dev"
START_S = 180.0  # a Ray pod on a 2-core machine: container start, `ray start`, the first readiness probes


def real_node_pods() -> dict[str, Any]:
    """The operator's pod defaults that put Ray pods on the real node with this Python mounted."""
    paths = {"python": sys.base_prefix, "venv": sys.prefix, "checkout": str(REPO)}
    search_path = f"{sys.prefix}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {
        "image": RUNTIME_IMAGE,
        "imagePullPolicy": "Never",
        "nodeSelector": {REAL_NODE: "true"},
        "tolerations": [{"key": REAL_NODE, "operator": "Exists", "effect": "NoSchedule"}],
        "volumes": [
            {"name": name, "hostPath": {"path": path, "type": "Directory"}} for name, path in paths.items()
        ],
        "volumeMounts": [{"name": name, "mountPath": path, "readOnly": True} for name, path in paths.items()],
        "env": {"PATH": search_path, "PYTHONUNBUFFERED": "1"},
        # The real node has this machine's 2 CPUs; Ray counts the pods' limits, which may add up to more.
        "cpuRequestRatio": 0.25,
    }


def object_store(kubeconfig: Path) -> dict[str, str]:
    """The e2e cluster's MinIO: endpoint and credentials as `e2e/cluster/up` wrote them (AWS_*)."""
    path = kubeconfig.parent / "objectstore.env"
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.fixture(scope="module")
def operator(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    """The operator as a cluster admin would set it up: Ray pods on the real node, artifacts in S3."""
    directory = tmp_path_factory.mktemp("operator-real")
    log = directory / "operator.log"
    s3 = {k: v for k, v in object_store(kubeconfig).items() if k.startswith("AWS_")}
    pods = real_node_pods()
    pods["env"] = {**pods["env"], **s3}
    bucket = object_store(kubeconfig)["PARK_E2E_BUCKET"]
    env = {
        "PARK_OPERATOR_PODS": json.dumps(pods),
        "PARK_OPERATOR_JOBS_ROOT": f"s3://{bucket}/jobs",
        **s3,
    }
    running = Operator(service_account_kubeconfig(kubeconfig, directory), log, env)
    running.start()
    yield running
    running.stop()
    print(log.read_text()[-5000:])  # shown by pytest only when a test failed


def pods_of(kubeconfig: Path, namespace: str, cluster: str) -> list[dict[str, Any]]:
    pods = get(kubeconfig, "pods", namespace).get("items") or []
    return [p for p in pods if p["metadata"].get("labels", {}).get("ray.io/cluster") == cluster]


def test_a_ray_cluster_runs_on_real_pods_and_its_worker_joins_through_cluster_dns(
    kubeconfig: Path, namespace: str, operator: Operator
) -> None:
    apply(
        kubeconfig,
        namespace,
        """
apiVersion: park.dev/v1alpha1
kind: ParkCluster
metadata: {name: real}
spec:
  head: {resources: {cpu: 1, memory: 2Gi}}
  workerGroups:
    - {name: cpu, replicas: 1, resources: {cpu: 500m, memory: 1Gi}}
""",
    )
    wait_for(
        "the ParkCluster on real pods to be Ready",
        lambda: status(kubeconfig, "parkcluster/real", namespace).get("phase") == "Ready",
        START_S,
    )
    pods = pods_of(kubeconfig, namespace, "real")
    assert {p["spec"]["nodeName"] for p in pods} == {"park-node-0"}, "Ray pods must run on the real node"
    head = next(p for p in pods if p["metadata"]["labels"].get("ray.io/node-type") == "head")
    worker = next(p for p in pods if p["metadata"]["labels"].get("ray.io/node-type") == "worker")

    def alive_nodes() -> int:
        script = "import ray; ray.init(address='auto'); print(sum(n['Alive'] for n in ray.nodes()))"
        result = kubectl(
            kubeconfig,
            "exec",
            "-n",
            namespace,
            head["metadata"]["name"],
            "-c",
            "ray-head",
            "--",
            "python",
            "-c",
            script,
            check=False,
        )
        lines = result.stdout.strip().splitlines()
        return int(lines[-1]) if result.returncode == 0 and lines and lines[-1].isdigit() else 0

    wait_for("the worker to join the head (2 live Ray nodes)", lambda: alive_nodes() == 2, START_S)
    logs = kubectl(kubeconfig, "logs", "-n", namespace, worker["metadata"]["name"], "-c", "ray-worker").stdout
    assert "Ray runtime started" in logs, logs[-2000:]
    # In-cluster clients reach the API server through the `kubernetes` Service (kube-proxy), as the
    # operator's own pods do.
    version = kubectl(
        kubeconfig,
        "exec",
        "-n",
        namespace,
        worker["metadata"]["name"],
        "-c",
        "ray-worker",
        "--",
        "curl",
        "-sk",
        "--max-time",
        "10",
        "https://kubernetes.default.svc/version",
    )
    assert json.loads(version.stdout)["gitVersion"].startswith("v1."), version.stdout
    kubectl(kubeconfig, "delete", "parkcluster", "real", "-n", namespace)


HELLO = """
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: squares}
spec:
  queue: QUEUE
  priority: 0
  entrypoint: >-
    python -c "import ray; ray.init();
    square = ray.remote(lambda i: i * i);
    print('sum of squares', sum(ray.get([square.remote(i) for i in range(8)])))"
"""


def park_logs(kubeconfig: Path, api_client: k8s.ApiClient, namespace: str, name: str) -> str:
    """What `park logs job NAME` shows on Kubernetes: the attempt's archive in the object store."""
    s3 = object_store(kubeconfig)
    settings = OperatorSettings(jobs_root=f"s3://{s3['PARK_E2E_BUCKET']}/jobs")
    with pytest.MonkeyPatch.context() as env:
        for key, value in s3.items():
            env.setenv(key, value)
        logs = kubernetes_job_logs(
            store=KubernetesStore(api_client), api_client=api_client, settings=settings
        )
        return asyncio.run(logs.read(namespace, name))


def test_a_parkjob_applied_with_kubectl_runs_its_program_on_a_real_ray_head(
    kubeconfig: Path, namespace: str, operator: Operator, api_client: k8s.ApiClient
) -> None:
    with temporary_queue(kubeconfig, f"q-{namespace}", 0) as queue:
        apply(kubeconfig, namespace, HELLO.replace("QUEUE", queue))
        wait_for(
            "the ParkJob to succeed on real pods",
            lambda: status(kubeconfig, "parkjob/squares", namespace).get("phase") in ("Succeeded", "Failed"),
            START_S + 120,
        )
        final = status(kubeconfig, "parkjob/squares", namespace)
        assert final["phase"] == "Succeeded", final
        logs = park_logs(kubeconfig, api_client, namespace, "squares")
        assert "sum of squares 140" in logs, logs[-3000:]


def counter_job(name: str, queue: str, priority: int, steps: int) -> str:
    """The checkpointing example (examples/checkpointing/counter.py), run from the mounted checkout."""
    script = REPO / "examples" / "checkpointing" / "counter.py"
    return f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: {name}}}
spec:
  queue: {queue}
  priority: {priority}
  entrypoint: python {script} --steps {steps} --every 5 --step-seconds 0.4
  checkpoint: {{preemptionGraceSeconds: 20}}
"""


def test_a_preempted_job_checkpoints_to_s3_and_resumes_at_the_same_step(
    kubeconfig: Path, namespace: str, operator: Operator, api_client: k8s.ApiClient
) -> None:
    queue = f"q-{namespace}"
    apply(
        kubeconfig,
        "default",
        f"apiVersion: park.dev/v1alpha1\nkind: ParkQueue\nmetadata: {{name: {queue}}}\n"
        # One job's pods (a 1-CPU head and KubeRay's 100m submitter) fit; two do not: the urgent one preempts.
        "spec: {nominalQuota: {cpu: 1500m}, preemption: {withinQueue: LowerPriority}}\n",
    )
    try:
        apply(kubeconfig, namespace, counter_job("low", queue, 0, 60))

        def checkpointed() -> dict[str, Any]:
            job = status(kubeconfig, "parkjob/low", namespace)
            return job if job.get("phase") == "Running" and job.get("checkpoint") else {}

        running = wait_for("low to run and report a checkpoint", checkpointed, START_S + 60)
        assert running["checkpoint"].startswith("s3://"), running["checkpoint"]
        apply(kubeconfig, namespace, HELLO.replace("QUEUE", queue).replace("priority: 0", "priority: 100"))

        def low_in(*phases: str) -> dict[str, Any]:
            job = status(kubeconfig, "parkjob/low", namespace)
            return job if job.get("phase") in phases else {}

        preempted = wait_for("low to be preempted with a checkpoint", lambda: low_in("Preempted"), 120)
        assert preempted["report"].get("preempted") is True, preempted["report"]
        step = preempted["report"]["step"]
        wait_for(
            "the urgent job to succeed",
            lambda: status(kubeconfig, "parkjob/squares", namespace).get("phase") == "Succeeded",
            START_S + 60,
        )
        done = wait_for(
            "low to resume and finish",
            lambda: (
                (s := status(kubeconfig, "parkjob/low", namespace)).get("phase") in ("Succeeded", "Failed")
                and s
            ),
            START_S + 120,
        )
        assert done["phase"] == "Succeeded" and done["attempt"] == 2, done
        assert done["report"]["total"] == sum(range(61)), "no step lost or repeated across the preemption"
        logs = park_logs(kubeconfig, api_client, namespace, "low")
        assert f"resuming at step {step}" in logs, logs[-2000:]
    finally:
        kubectl(kubeconfig, "delete", "parkqueue", queue, "--wait=false", check=False)
