"""Artifacts on a real S3 server (the e2e cluster's MinIO): what the control plane writes, a pod reads.

The workload contract (report, preemption marker) over `s3://`, from this machine and from a Ray
runtime pod on the real node, which reaches the object store at the node's bridge address.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from park.workloads import artifacts
from park.workloads.contract import JobContext, Preemption

from .conftest import kubectl
from .test_operator import wait_for
from .test_real_pods import real_node_pods

pytestmark = pytest.mark.e2e


@pytest.fixture
def s3_env(kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The object store's endpoint and credentials, as `e2e/cluster/up` wrote them."""
    path = kubeconfig.parent / "objectstore.env"
    env = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_the_contract_works_over_s3(s3_env: dict[str, str]) -> None:
    job_dir = f"s3://{s3_env['PARK_E2E_BUCKET']}/e2e/{uuid.uuid4().hex[:8]}"
    context = JobContext.from_env({"PARK_JOB_DIR": job_dir, "PARK_ATTEMPT": "3"})
    assert context.read_report() == {}
    context.report(step=7, checkpoint=f"{job_dir}/checkpoints/checkpoint_00000007")
    assert context.read_report()["step"] == 7
    assert artifacts.exists(context.report_location)
    watcher = Preemption(context)
    assert not watcher.requested()
    Preemption(context).request()
    wait_for("another process to see the preemption marker", watcher.requested, 5)


def test_a_pod_on_the_real_node_reads_what_the_host_wrote(
    kubeconfig: Path, namespace: str, s3_env: dict[str, str]
) -> None:
    location = f"s3://{s3_env['PARK_E2E_BUCKET']}/e2e/{uuid.uuid4().hex[:8]}/hello.json"
    artifacts.write_json(location, {"hello": "from the host"})
    pods = real_node_pods()
    env = [{"name": k, "value": v} for k, v in {**pods["env"], **s3_env}.items()]
    script = f"from park.workloads import artifacts; print(artifacts.read_json({location!r}))"
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "reader"},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": pods["nodeSelector"],
            "tolerations": pods["tolerations"],
            "volumes": pods["volumes"],
            "containers": [
                {
                    "name": "reader",
                    "image": pods["image"],
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", script],
                    "env": env,
                    "volumeMounts": pods["volumeMounts"],
                }
            ],
        },
    }
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))

    def finished() -> str:
        phase = kubectl(
            kubeconfig, "get", "pod", "reader", "-n", namespace, "-o", "jsonpath={.status.phase}", check=False
        ).stdout
        return phase if phase in ("Succeeded", "Failed") else ""

    assert wait_for("the reader pod to finish", finished, 120) == "Succeeded"
    logs = kubectl(kubeconfig, "logs", "reader", "-n", namespace).stdout
    assert "{'hello': 'from the host'}" in logs, logs
