"""A real Kubernetes control plane (e2e/cluster/up: etcd, kube-apiserver, controller-manager, scheduler,
kwok nodes, the KubeRay operator, all built from Go modules) with Park's CRDs applied."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from park.operator.manifests import rendered_crds

REPO = Path(__file__).resolve().parents[2]
UP = REPO / "e2e" / "cluster" / "up"


def _up() -> tuple[Path, bool]:
    """(kubeconfig, whether this call started anything): a first build takes ~20 minutes."""
    result = subprocess.run([str(UP)], capture_output=True, text=True, timeout=3600, check=False)
    if result.returncode != 0:
        raise AssertionError(f"e2e/cluster/up failed: {result.stderr[-3000:]}")
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("export KUBECONFIG="), last
    started = ": started (pid" in result.stdout + result.stderr
    return Path(last.removeprefix("export KUBECONFIG=")), started


@pytest.fixture(scope="session")
def kubeconfig() -> Iterator[Path]:
    """The cluster, started if needed and stopped again at the end if this session started it."""
    path, started = _up()
    kubectl(path, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "manifests" / "crds"))
    crds = [f"crd/{name.removesuffix('.yaml')}.park.dev" for name in rendered_crds()]
    kubectl(path, "wait", "--for=condition=Established", *crds, "--timeout=60s")
    yield path
    if started and not os.environ.get("PARK_E2E_KEEP"):
        subprocess.run([str(UP.with_name("down"))], capture_output=True, timeout=120, check=False)


def kubectl(
    path: Path, *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(path)}
    binary = (
        Path(os.environ.get("PARK_K8S_CACHE", Path.home() / ".cache" / "park" / "k8s")) / "bin" / "kubectl"
    )
    result = subprocess.run(
        [str(binary), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Iterator[k8s.ApiClient]:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with k8s.ApiClient(configuration) as client:
        yield client


@pytest.fixture
def namespace(kubeconfig: Path, api_client: k8s.ApiClient) -> Iterator[str]:
    name = f"park-e2e-{uuid.uuid4().hex[:6]}"
    core = k8s.CoreV1Api(api_client)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)
