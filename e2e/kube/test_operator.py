"""The operator against the real API server and KubeRay (kwok nodes): samples → KubeRay objects → pods
Running → readiness in `kubectl get`; priority preemption through `RayJob.spec.suspend`; cascading
deletion; a SIGKILLed operator restarted converges without duplicates.

The operator runs as `python -m park operator run` (what the Deployment runs), one per module, with the
token of the `park-operator` ServiceAccount bound by `operator/rbac.yaml`: the least-privilege role is
exactly what these tests exercise.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from park.substrates.kuberay_specs import OWNER_NAME

from .conftest import REPO, kubectl

pytestmark = pytest.mark.e2e
SAMPLES = REPO / "manifests" / "samples"
WAIT_S = 60.0
OPERATOR_NAMESPACE = "park-system"


class Operator:
    """The operator subprocess: started, SIGKILLed and restarted by the tests."""

    def __init__(self, kubeconfig: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self._kubeconfig = kubeconfig
        self._log = log
        self._env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PARK_OPERATOR_SCHEDULER_MIN_RUNTIME_SECONDS": "0",
            "PARK_OPERATOR_LEASE_SECONDS": "3",
            "PARK_OPERATOR_LEASE_NAMESPACE": OPERATOR_NAMESPACE,
            **self._env,
        }
        with self._log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "park", "operator", "run", "--kubeconfig", str(self._kubeconfig)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def service_account_kubeconfig(admin: Path, directory: Path) -> Path:
    """The operator's own identity: operator/rbac.yaml applied, a token of its ServiceAccount."""
    for manifest in ("namespace.yaml", "rbac.yaml"):
        kubectl(admin, "apply", "-f", str(REPO / "operator" / manifest))
    token = kubectl(admin, "create", "token", "park-operator", "-n", OPERATOR_NAMESPACE).stdout.strip()
    config = yaml.safe_load(admin.read_text())
    cluster = config["clusters"][0]
    path = directory / "operator.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "park-operator", "user": {"token": token}}],
                "contexts": [
                    {"name": "op", "context": {"cluster": cluster["name"], "user": "park-operator"}}
                ],
                "current-context": "op",
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def operator(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    directory = tmp_path_factory.mktemp("operator")
    log = directory / "operator.log"
    running = Operator(service_account_kubeconfig(kubeconfig, directory), log)
    running.start()
    yield running
    running.stop()
    print(log.read_text()[-5000:])  # shown by pytest only when a test failed


def get(kubeconfig: Path, what: str, namespace: str | None = None) -> dict[str, Any]:
    args = ["get", what, "-o", "json"] + (["-n", namespace] if namespace else [])
    result = kubectl(kubeconfig, *args, check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def apply(kubeconfig: Path, namespace: str, text: str) -> None:
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=text)


@contextlib.contextmanager
def temporary_queue(kubeconfig: Path, name: str, gpus: int) -> Iterator[str]:
    """A ParkQueue (cluster-scoped, so outside the test's namespace) for one test, deleted after it."""
    apply(
        kubeconfig,
        "default",
        f"apiVersion: park.dev/v1alpha1\nkind: ParkQueue\nmetadata: {{name: {name}}}\n"
        f"spec: {{nominalQuota: {{cpu: 64, gpu: {gpus}}}, preemption: {{withinQueue: LowerPriority}}}}\n",
    )
    try:
        yield name
    finally:
        kubectl(kubeconfig, "delete", "parkqueue", name, "--wait=false", check=False)


def job_yaml(name: str, queue_name: str, priority: int, gpus: int) -> str:
    return (
        f"apiVersion: park.dev/v1alpha1\nkind: ParkJob\nmetadata: {{name: {name}}}\nspec:\n"
        f"  entrypoint: python train.py\n  queue: {queue_name}\n  priority: {priority}\n"
        f"  resources: {{replicas: {gpus}, perReplica: {{cpu: 1, gpu: 1}}}}\n"
    )


def rayjobs_of(kubeconfig: Path, namespace: str, job: str) -> list[dict[str, Any]]:
    """The RayJobs of a ParkJob's attempts that are not being deleted."""
    items = get(kubeconfig, "rayjobs", namespace).get("items") or []
    return [
        j
        for j in items
        if (j["metadata"].get("labels") or {}).get(OWNER_NAME) == job
        and not j["metadata"].get("deletionTimestamp")
    ]


def running(kubeconfig: Path, namespace: str, job: str) -> bool:
    """Park makes an attempt's RayJob only while the scheduler admits the job, and stops it on preemption."""
    return bool(rayjobs_of(kubeconfig, namespace, job))


def status(kubeconfig: Path, what: str, namespace: str) -> dict[str, Any]:
    return dict(get(kubeconfig, what, namespace).get("status") or {})


def test_samples_run_on_kuberay_and_readiness_flows_back(
    kubeconfig: Path, namespace: str, operator: Operator
) -> None:
    with temporary_queue(kubeconfig, f"q-{namespace}", 8) as name:
        for sample in ("parkcluster", "parkjob", "parkservice"):
            text = (SAMPLES / f"{sample}.yaml").read_text().replace("queue: default", f"queue: {name}")
            apply(kubeconfig, namespace, text)
        wait_for(
            "the ParkCluster to be Ready",
            lambda: status(kubeconfig, "parkcluster/default", namespace).get("phase") == "Ready",
        )
        table = kubectl(kubeconfig, "get", "parkclusters", "-n", namespace).stdout
        assert "Ready" in table, table
        raycluster = get(kubeconfig, "raycluster/default", namespace)
        (owner,) = raycluster["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("ParkCluster", "default")
        head = raycluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        assert head["image"] == "rayproject/ray:2.60.0"
        pods = get(kubeconfig, "pods", namespace)["items"]
        cluster_pods = [p for p in pods if p["metadata"]["labels"].get("ray.io/cluster") == "default"]
        assert len(cluster_pods) == 3 and all(p["status"]["phase"] == "Running" for p in cluster_pods)
        gpu = cluster_pods[0]["spec"]["containers"][0]["resources"]["limits"]
        assert any(
            p["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu") == "1"
            for p in cluster_pods
        ), gpu

        wait_for("the sample job's RayJob to run", lambda: running(kubeconfig, namespace, "finetune"))
        # The service serves `job:finetune`: as on park up it waits, asking for nothing, for a checkpoint
        # (the job never trains on kwok nodes, so the test writes one as the job's report would).
        waiting = wait_for(
            "the sample service to wait for the job's checkpoint",
            lambda: (s := status(kubeconfig, "parkservice/chat", namespace)).get("phase") == "Pending" and s,
        )
        assert waiting["message"] == "waiting for ParkJob finetune to write a checkpoint to serve", waiting
        checkpoint = "s3://park/jobs/finetune/checkpoints/step-1"
        kubectl(
            kubeconfig, "patch", "parkjob", "finetune", "-n", namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps({"status": {"checkpoint": checkpoint}}),
        )  # fmt: skip
        wait_for("the sample service's RayService", lambda: get(kubeconfig, "rayservice/chat", namespace))
        service = get(kubeconfig, "rayservice/chat", namespace)
        assert "name: " + f"{namespace}.chat.llm" in service["spec"]["serveConfigV2"]
        assert f"model: {checkpoint}" in service["spec"]["serveConfigV2"]
        events = kubectl(kubeconfig, "get", "events", "-n", namespace).stdout
        assert "CreatedRayCluster" in events and "Submitted" in events, events

        kubectl(kubeconfig, "delete", "parkcluster", "default", "-n", namespace)
        wait_for(
            "the RayCluster to be deleted with its owner",
            lambda: not get(kubeconfig, "raycluster/default", namespace),
        )


def test_a_high_priority_job_suspends_a_low_one_until_it_is_deleted(
    kubeconfig: Path, namespace: str, operator: Operator
) -> None:
    with temporary_queue(kubeconfig, f"q-{namespace}", 4) as name:
        apply(kubeconfig, namespace, job_yaml("low", name, 1, 4))
        wait_for("low to run", lambda: running(kubeconfig, namespace, "low"))
        apply(kubeconfig, namespace, job_yaml("high", name, 100, 4))
        wait_for("low's RayJob to be stopped", lambda: not running(kubeconfig, namespace, "low"))
        wait_for("high to run", lambda: running(kubeconfig, namespace, "high"))
        wait_for(
            "low to be Preempted",
            lambda: status(kubeconfig, "parkjob/low", namespace).get("phase") == "Preempted",
        )

        kubectl(kubeconfig, "delete", "parkjob", "high", "-n", namespace)
        wait_for("low to run again", lambda: running(kubeconfig, namespace, "low"))
        (resumed,) = rayjobs_of(kubeconfig, namespace, "low")
        assert resumed["metadata"]["labels"]["park.dev/attempt"] == "2"
        assert "PARK_ATTEMPT: '2'" in resumed["spec"]["runtimeEnvYAML"]
        wait_for(
            "low's attempt 2 in its status",
            lambda: status(kubeconfig, "parkjob/low", namespace).get("attempt") == 2,
        )


def test_a_killed_operator_restarts_and_converges_without_duplicates(
    kubeconfig: Path, namespace: str, operator: Operator
) -> None:
    with temporary_queue(kubeconfig, f"q-{namespace}", 8) as name:
        apply(kubeconfig, namespace, (SAMPLES / "parkcluster.yaml").read_text())
        apply(kubeconfig, namespace, job_yaml("train", name, 5, 2))
        wait_for("the operator to start on them", lambda: get(kubeconfig, "raycluster/default", namespace))
        operator.kill()
        apply(kubeconfig, namespace, job_yaml("later", name, 5, 2))  # created while no operator runs
        operator.start()
        wait_for(
            "the cluster to be Ready",
            lambda: status(kubeconfig, "parkcluster/default", namespace).get("phase") == "Ready",
        )
        for job in ("train", "later"):
            wait_for(f"{job} to run", lambda job=job: running(kubeconfig, namespace, job))
        rayjobs = get(kubeconfig, "rayjobs", namespace)["items"]
        assert sorted(j["metadata"]["labels"][OWNER_NAME] for j in rayjobs) == ["later", "train"]
        assert all(j["metadata"]["labels"]["park.dev/attempt"] == "1" for j in rayjobs)
        owned = [
            c["metadata"]["ownerReferences"][0]["kind"]
            for c in get(kubeconfig, "rayclusters", namespace)["items"]
        ]
        assert owned.count("ParkCluster") == 1 and owned.count("RayJob") <= 2, owned
