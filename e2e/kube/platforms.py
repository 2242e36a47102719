"""The two platforms the same tests run on: `park up`, and Kubernetes through `park operator api`.

`park up` runs jobs on its local Ray head; on Kubernetes the operator runs them as RayJobs on the e2e
cluster's real node, `park operator api` serves the same REST API, and the `park` CLI talks to it. Test
modules import `platform` (parametrised over both), `kubernetes`, `operator` and `park_up`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import urlsplit, urlunsplit

import pytest

from park.client import ParkClient
from park.core.resources import AnyResource
from tests.integration.conftest import park_up, wait_for

from .conftest import REPO, kubectl
from .test_operator import Operator, apply
from .test_real_pods import object_store, operator

__all__ = ["OnKubernetes", "Platform", "kubernetes", "operator", "park_up", "platform", "reachable"]
API_PORT = 18770


class Platform(Protocol):
    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]: ...

    def get(self, kind: str, namespace: str | None, name: str) -> AnyResource: ...

    def wait_phase(
        self, kind: str, namespace: str | None, name: str, phases: set[str], *, timeout: float
    ) -> AnyResource: ...


@dataclass
class OnKubernetes:
    """`park operator api` over the e2e cluster, and the `park` CLI pointed at it."""

    url: str
    token: str
    env: dict[str, str]
    kubeconfig: Path
    bucket: str
    """The object store's bucket (MinIO) where the platform keeps artifacts and users keep data."""

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "PARK_SERVER": self.url, "PARK_TOKEN": self.token}
        return subprocess.run(
            [sys.executable, "-m", "park", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            check=False,
        )

    def get(self, kind: str, namespace: str | None, name: str) -> AnyResource:
        with ParkClient(self.url, self.token) as client:
            return client.get(kind, namespace, name)

    def wait_phase(
        self, kind: str, namespace: str | None, name: str, phases: set[str], *, timeout: float
    ) -> AnyResource:
        def reached() -> AnyResource | None:
            obj = self.get(kind, namespace, name)
            return obj if obj.status.phase in phases else None

        return cast(AnyResource, wait_for(reached, timeout=timeout, what=f"{kind} {name} to reach {phases}"))


@pytest.fixture(scope="module")
def kubernetes(
    kubeconfig: Path, operator: Operator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OnKubernetes]:
    """The operator (real-node pods, S3 artifacts) with `park operator api` beside it."""
    store = object_store(kubeconfig)
    s3 = {k: v for k, v in store.items() if k.startswith("AWS_")}
    env = {
        **os.environ,
        **s3,
        "PARK_OPERATOR_JOBS_ROOT": f"s3://{store['PARK_E2E_BUCKET']}/jobs",
        "PARK_FEDERATION_ENABLED": "false",  # `park operator api` runs no gateway (and keeps out of ~/.park)
    }
    env.pop("PARK_SERVER", None)
    env.pop("PARK_TOKEN", None)
    apply(
        kubeconfig,
        "default",
        "apiVersion: park.dev/v1alpha1\nkind: ParkQueue\nmetadata: {name: default}\n"
        # Each job brings its own Ray cluster here (head, workers, submitter: about 1-3 CPUs of limits,
        # overcommitted on the real node); the quota admits a training gang and not another job beside it.
        "spec: {nominalQuota: {cpu: 4}, preemption: {withinQueue: LowerPriority}}\n",
    )
    directory = tmp_path_factory.mktemp("api")
    port = API_PORT
    log = (directory / "api.log").open("wb")
    token_file = directory / "token"
    api = [
        "operator",
        "api",
        "--kubeconfig",
        str(kubeconfig),
        "--port",
        str(port),
        "--token-file",
        str(token_file),
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "park", *api],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(token_file.exists, timeout=60, what="park operator api's token")
    token = token_file.read_text().strip()
    platform = OnKubernetes(url, token, env, kubeconfig, bucket=store["PARK_E2E_BUCKET"])
    wait_for(lambda: platform.cli("get", "jobs").returncode == 0, timeout=60, what="park operator api")
    environment = pytest.MonkeyPatch()
    for key, value in s3.items():
        environment.setenv(key, value)  # the test reads checkpoints where the platform wrote them
    yield platform
    environment.undo()
    process.terminate()
    process.wait(30)
    log.close()
    for kind in ("parkservices", "parkjobs"):  # what a failed test left behind
        kubectl(kubeconfig, "delete", kind, "--all", "-n", "default", "--wait=false", check=False)


@pytest.fixture(params=["park-up", "kubernetes"])
def platform(request: pytest.FixtureRequest) -> Platform:
    name = "park_up" if request.param == "park-up" else "kubernetes"
    return cast(Platform, request.getfixturevalue(name))


def reachable(platform: Platform, url: str) -> str:
    """A service URL as this machine reaches it: on Kubernetes `NAME.NAMESPACE.svc` is a Service, routed
    from here through its ClusterIP (kube-proxy), as an in-cluster client's DNS lookup would."""
    if not isinstance(platform, OnKubernetes):
        return url
    parts = urlsplit(url)
    name, namespace, *_ = (parts.hostname or "").split(".")
    found = kubectl(platform.kubeconfig, "get", "service", name, "-n", namespace, "-o", "json")
    ip = json.loads(found.stdout)["spec"]["clusterIP"]
    return urlunsplit(parts._replace(netloc=f"{ip}:{parts.port}"))
