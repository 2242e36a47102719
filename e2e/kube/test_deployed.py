"""Park deployed as operator/README.md documents: the image `operator/build-image` makes, and
`kubectl apply -k` of operator/ (through an overlay, as a cluster admin would write one).

The image is loaded into the real node's containerd (no registry); the operator and the REST API with
the federation gateway run from it as pods, reach the API server in-cluster (the `kubernetes` Service),
and read the object store's location and credentials from the `park-artifacts` Secret. The overlay only
says what this cluster needs: the image's name, the real node, Ray pods' defaults, and an emptyDir for
the gateway's state (the e2e cluster has no volume provisioner). The `park` CLI then runs the hello
example through the deployed API, its working directory uploaded to the object store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from park.core.resources import ParkJob
from park.workloads import artifacts
from tests.integration.conftest import wait_for

from .conftest import REPO, kubectl
from .platforms import OnKubernetes
from .test_operator import apply
from .test_real_pods import REAL_NODE, object_store, real_node_pods

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
IMAGE = "park.local/park:e2e"
SYSTEM = "park-system"


def build_and_load_image() -> None:
    """operator/build-image (cached layers: a rebuild after a change to Park takes seconds), then import."""
    built = subprocess.run(
        [str(REPO / "operator" / "build-image"), "--name", IMAGE],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    archive = built.stdout.strip().splitlines()[-1]
    socket = os.environ.get("PARK_E2E_CONTAINERD", "/run/park-e2e-16400/containerd.sock")
    imported = subprocess.run(
        ["ctr", "--address", socket, "-n", "k8s.io", "images", "import", archive],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr


def overlay(directory: Path, kubeconfig: Path) -> Path:
    """A kustomization over operator/: what this cluster needs and nothing else."""
    store = object_store(kubeconfig)
    s3 = {k: v for k, v in store.items() if k.startswith("AWS_")}
    pods = real_node_pods()
    pods["env"] = {**pods["env"], **s3}
    on_the_real_node = {
        "nodeSelector": {REAL_NODE: "true"},
        "tolerations": [{"key": REAL_NODE, "operator": "Exists", "effect": "NoSchedule"}],
    }
    operator_patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "park-operator", "namespace": SYSTEM},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    **on_the_real_node,
                    "containers": [
                        {
                            "name": "operator",
                            "imagePullPolicy": "Never",
                            "env": [
                                {"name": "PARK_OPERATOR_PODS", "value": json.dumps(pods)},
                                {"name": "PARK_OPERATOR_SCHEDULER_MIN_RUNTIME_SECONDS", "value": "0"},
                            ],
                        }
                    ],
                }
            },
        },
    }
    gateway_patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "park-gateway", "namespace": SYSTEM},
        "spec": {
            "template": {
                "spec": {
                    **on_the_real_node,
                    "containers": [{"name": "gateway", "imagePullPolicy": "Never"}],
                    "volumes": [{"name": "state", "persistentVolumeClaim": None, "emptyDir": {}}],
                }
            }
        },
    }
    secret = {
        "PARK_OPERATOR_JOBS_ROOT": f"s3://{store['PARK_E2E_BUCKET']}/jobs",
        **s3,
    }
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / "operator", directory)],
        "images": [{"name": "park", "newName": IMAGE.rsplit(":", 1)[0], "newTag": IMAGE.rsplit(":", 1)[1]}],
        "secretGenerator": [
            {
                "name": "park-artifacts",
                "namespace": SYSTEM,
                "literals": [f"{key}={value}" for key, value in secret.items()],
            }
        ],
        "generatorOptions": {"disableNameSuffixHash": True},
        "patches": [{"patch": yaml.safe_dump(operator_patch)}, {"patch": yaml.safe_dump(gateway_patch)}],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return directory


@dataclass
class Deployed:
    platform: OnKubernetes


@pytest.fixture(scope="module")
def deployed(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    build_and_load_image()
    directory = overlay(tmp_path_factory.mktemp("overlay", numbered=True), kubeconfig)
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-k", str(directory))
    try:
        for name in ("park-operator", "park-gateway"):
            kubectl(kubeconfig, "rollout", "status", f"deployment/{name}", "-n", SYSTEM, "--timeout=300s")
        token = kubectl(
            kubeconfig, "exec", "-n", SYSTEM, "deploy/park-gateway", "--", "cat", "/var/lib/park/admin.token"
        ).stdout.strip()
        found = kubectl(kubeconfig, "get", "service", "park-gateway", "-n", SYSTEM, "-o", "json")
        service = json.loads(found.stdout)
        url = f"http://{service['spec']['clusterIP']}:8470"  # through kube-proxy, as a client in the cluster
        env = {**os.environ}
        for key in ("PARK_SERVER", "PARK_TOKEN"):
            env.pop(key, None)
        bucket = object_store(kubeconfig)["PARK_E2E_BUCKET"]
        platform = OnKubernetes(url, token, env, kubeconfig, bucket=bucket)
        yield Deployed(platform)
    finally:
        logs = kubectl(kubeconfig, "logs", "-n", SYSTEM, "deploy/park-operator", "--tail=60", check=False)
        print(logs.stdout)  # shown by pytest only when a test failed
        # The namespace only: the overlay also holds the CRDs, which every other test needs.
        kubectl(kubeconfig, "delete", "namespace", SYSTEM, "--timeout=180s", check=False)


def test_the_deployed_operator_and_api_run_the_hello_example(
    deployed: Deployed, kubeconfig: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = deployed.platform
    for key, value in object_store(kubeconfig).items():
        monkeypatch.setenv(key, value)  # the test looks in the object store itself
    apply(  # cluster-scoped, as the other two-platform tests make it
        kubeconfig,
        namespace,
        "apiVersion: park.dev/v1alpha1\nkind: ParkQueue\nmetadata: {name: default}\n"
        "spec: {nominalQuota: {cpu: 4}, preemption: {withinQueue: LowerPriority}}\n",
    )
    applied = platform.cli("apply", "-n", namespace, "-f", str(REPO / "examples" / "hello-job.yaml"))
    assert applied.returncode == 0, applied.stderr
    # The local working directory went to the object store through the deployed API.
    job = platform.get("ParkJob", namespace, "hello")
    assert isinstance(job, ParkJob)
    assert str(job.spec.runtime_env["working_dir"]).startswith(f"s3://{platform.bucket}/")
    assert artifacts.exists(str(job.spec.runtime_env["working_dir"]))

    def done() -> ParkJob | None:
        found = platform.get("ParkJob", namespace, "hello")
        assert isinstance(found, ParkJob)
        return found if found.status.phase in ("Succeeded", "Failed") else None

    finished = wait_for(done, timeout=300, what="the hello job to finish")
    assert isinstance(finished, ParkJob)
    assert finished.status.phase == "Succeeded", finished.status.message
    assert "hello from Park: done" in platform.cli("logs", "job", "hello", "-n", namespace).stdout
    listed = platform.cli("get", "jobs", "-n", namespace)
    assert "hello" in listed.stdout and "Succeeded" in listed.stdout
    pods = json.loads(kubectl(kubeconfig, "get", "pods", "-n", SYSTEM, "-o", "json").stdout)["items"]
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert images == {IMAGE}, images
