"""Quota that counts what runs, on Kubernetes (the operator against the real API server and KubeRay):

- a ParkQueue deleted while a job it admitted runs keeps the `park.dev/queue-in-use` finalizer: it is
  Terminating, admits nothing new, and goes once the job is gone (what `tests/integration/platform/
  test_queue_quota.py` shows on `park up`);
- a ParkCluster that names a queue is charged its head and workers: it gets its RayCluster once admitted
  and waits Queued, without one, when it does not fit; `kubectl get parkclusters` shows its CPUs and GPUs;
- a ParkService is charged its own Ray cluster (the template's head and GPU workers), not its replicas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import kubectl
from .test_operator import (
    Operator,
    apply,
    get,
    job_yaml,
    operator,
    running,
    status,
    temporary_queue,
    wait_for,
)

pytestmark = pytest.mark.e2e
__all__ = ["operator"]  # the module's operator fixture (kwok nodes are enough: nothing here needs Ray)
IN_USE = "park.dev/queue-in-use"


def queue_object(kubeconfig: Path, name: str) -> dict[str, Any]:
    return get(kubeconfig, f"parkqueue/{name}")


def finalizers(kubeconfig: Path, name: str) -> list[str]:
    return list((queue_object(kubeconfig, name).get("metadata") or {}).get("finalizers") or [])


def test_a_queue_deleted_while_its_job_runs_is_terminating_until_the_job_is_gone(
    kubeconfig: Path, namespace: str, operator: Operator
) -> None:
    with temporary_queue(kubeconfig, f"q-{namespace}", 4) as name:
        apply(kubeconfig, namespace, job_yaml("holder", name, 0, 1))
        wait_for("holder to run", lambda: running(kubeconfig, namespace, "holder"))
        wait_for("the queue's in-use finalizer", lambda: IN_USE in finalizers(kubeconfig, name))

        kubectl(kubeconfig, "delete", "parkqueue", name, "--wait=false")
        wait_for(
            "the queue to be Terminating",
            lambda: status(kubeconfig, f"parkqueue/{name}", "").get("phase") == "Terminating",
        )
        table = kubectl(kubeconfig, "get", "parkqueue", name).stdout
        assert "Terminating" in table, table
        apply(kubeconfig, namespace, job_yaml("late", name, 0, 1))
        late = wait_for(
            "the late job to be told the queue admits nothing new",
            lambda: (
                (a := status(kubeconfig, "parkjob/late", namespace).get("admission") or {})
                and "is being deleted" in a.get("message", "")
                and a
            ),
        )
        assert not late.get("admitted"), late
        assert not running(kubeconfig, namespace, "late")

        kubectl(kubeconfig, "delete", "parkjob", "holder", "-n", namespace)
        wait_for("the queue to go once its job is gone", lambda: not queue_object(kubeconfig, name))
        kubectl(kubeconfig, "delete", "parkjob", "late", "-n", namespace, "--wait=false")


def cluster_yaml(name: str, queue: str | None, gpu_workers: int) -> str:
    charged = f"  queue: {queue}\n" if queue else ""
    return (
        f"apiVersion: park.dev/v1alpha1\nkind: ParkCluster\nmetadata: {{name: {name}}}\nspec:\n{charged}"
        "  head: {resources: {cpu: 2}}\n"
        f"  workerGroups: [{{name: gpu, replicas: {gpu_workers}, resources: {{cpu: 4, gpu: 1}}}}]\n"
    )


def test_a_cluster_charged_to_a_queue_runs_once_admitted_and_waits_queued_when_it_does_not_fit(
    kubeconfig: Path, namespace: str, operator: Operator
) -> None:
    with temporary_queue(kubeconfig, f"q-{namespace}", 2) as name:
        apply(kubeconfig, namespace, cluster_yaml("first", name, 2))
        wait_for("first's RayCluster", lambda: get(kubeconfig, "raycluster/first", namespace))

        def listed() -> list[str]:
            lines = kubectl(kubeconfig, "get", "parkcluster", "first", "-n", namespace).stdout.splitlines()
            return lines if len(lines) > 1 and lines[1].split()[2:5] == [name, "10", "2"] else []

        header = wait_for("kubectl to show first's head and workers: 10 CPUs, 2 GPUs", listed)[0]
        assert header.split()[:5] == ["NAME", "STATUS", "QUEUE", "CPUS", "GPUS"], header

        apply(kubeconfig, namespace, cluster_yaml("second", name, 1))
        queued = wait_for(
            "second to wait Queued",
            lambda: (
                (s := status(kubeconfig, "parkcluster/second", namespace)).get("phase") == "Queued"
                and "needs 1 gpu" in (s.get("message") or "")
                and s
            ),
        )
        assert queued["message"].startswith("waiting: needs 1 gpu"), queued
        assert not get(kubeconfig, "raycluster/second", namespace)
        assert status(kubeconfig, f"parkqueue/{name}", "").get("usage", {}).get("used", {}).get("gpu") == 2

        kubectl(kubeconfig, "delete", "parkcluster", "first", "-n", namespace)
        wait_for(
            "second's RayCluster once first's GPUs are back",
            lambda: get(kubeconfig, "raycluster/second", namespace),
        )
        kubectl(kubeconfig, "delete", "parkcluster", "second", "-n", namespace, "--wait=false")


SERVICE = """
apiVersion: park.dev/v1alpha1
kind: ParkService
metadata: {name: chat}
spec:
  cluster: gpus
  queue: QUEUE
  applications:
    - name: llm
      import_path: park.workloads.serve.app:build
      args: {model: /models/charlm}
      deployments:
        - {name: decode, num_replicas: 1, ray_actor_options: {num_gpus: 1}}
"""


def test_a_service_is_charged_its_clusters_gpu_workers_and_a_job_waits_for_what_is_left(
    kubeconfig: Path, namespace: str, operator: Operator
) -> None:
    """The service's RayService runs the template's two GPU workers: 2 GPUs, though its replica asks 1."""
    with temporary_queue(kubeconfig, f"q-{namespace}", 3) as name:
        apply(kubeconfig, namespace, cluster_yaml("gpus", None, 2))  # platform capacity: charged to no one
        apply(kubeconfig, namespace, SERVICE.replace("QUEUE", name))
        wait_for("the service's RayService", lambda: get(kubeconfig, "rayservice/chat", namespace))
        used = status(kubeconfig, f"parkqueue/{name}", "").get("usage", {}).get("used", {})
        assert (used.get("gpu"), used.get("cpu")) == (2, 10), used

        apply(kubeconfig, namespace, job_yaml("train", name, 0, 2))
        waiting = wait_for(
            "the job to wait for GPUs",
            lambda: (
                (a := status(kubeconfig, "parkjob/train", namespace).get("admission") or {}).get("message")
                and a
            ),
        )
        assert waiting["message"].startswith("waiting: needs 2 gpu"), waiting
        assert not running(kubeconfig, namespace, "train")
        for kind, obj in (("parkjob", "train"), ("parkservice", "chat"), ("parkcluster", "gpus")):
            kubectl(kubeconfig, "delete", kind, obj, "-n", namespace, "--wait=false")
