"""One job lifecycle, two substrates: the same test, through the same CLI, on `park up` and on Kubernetes.

`park up` runs jobs on its local Ray head; on Kubernetes the operator runs them as RayJobs on the e2e
cluster's real node, `park operator api` serves the same REST API, and the `park` CLI talks to it. The
job is the checkpointing example, run from this checkout (which the real node's pods mount), so its
report, checkpoint (a directory, or s3:// in MinIO), preemption, resume and evaluation gates are compared
like for like.
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

import pytest

from park.client import ParkClient
from park.core.resources import AnyResource, ParkJob
from park.workloads import artifacts
from tests.integration.conftest import park_up, wait_for

from .conftest import REPO, kubectl
from .test_operator import Operator, apply
from .test_real_pods import object_store, operator

pytestmark = pytest.mark.e2e
__all__ = ["operator", "park_up"]  # fixtures used through `platform`
COUNTER = REPO / "examples" / "checkpointing" / "counter.py"
STEPS = 40


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
        "spec: {nominalQuota: {cpu: 2}}\n",
    )
    directory = tmp_path_factory.mktemp("api")
    port = 18770
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
    platform = OnKubernetes(url=url, token=token_file.read_text().strip(), env=env)
    wait_for(lambda: platform.cli("get", "jobs").returncode == 0, timeout=60, what="park operator api")
    environment = pytest.MonkeyPatch()
    for key, value in s3.items():
        environment.setenv(key, value)  # the test reads checkpoints where the platform wrote them
    yield platform
    environment.undo()
    process.terminate()
    process.wait(30)
    log.close()
    leftovers = ("counter", "gated")
    kubectl(kubeconfig, "delete", "parkjob", *leftovers, "-n", "default", "--ignore-not-found", check=False)


@pytest.fixture(params=["park-up", "kubernetes"])
def platform(request: pytest.FixtureRequest) -> Platform:
    name = "park_up" if request.param == "park-up" else "kubernetes"
    return cast(Platform, request.getfixturevalue(name))


def counter_job() -> str:
    return f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: counter}}
spec:
  entrypoint: python {COUNTER} --steps {STEPS} --every 5 --step-seconds 0.4
  checkpoint: {{preemptionGraceSeconds: 20}}
"""


def test_a_suspended_job_checkpoints_and_resumes_where_it_stopped(platform: Platform) -> None:
    applied = platform.cli("apply", "-f", "-", stdin=counter_job())
    assert applied.returncode == 0, applied.stderr

    def progressed() -> bool:
        job = platform.get("ParkJob", "default", "counter")
        return job.status.phase == "Running" and int(job.status.report.get("step", 0)) >= 10

    wait_for(progressed, timeout=240, what="the counter to pass step 10")
    suspended = platform.cli("suspend", "job", "counter")
    assert suspended.returncode == 0, suspended.stderr
    preempted = platform.wait_phase("ParkJob", "default", "counter", {"Preempted", "Failed"}, timeout=90)
    assert isinstance(preempted, ParkJob)
    assert preempted.status.phase == "Preempted", preempted.status.message
    assert preempted.status.report["preempted"] is True
    checkpoint = preempted.status.checkpoint
    assert checkpoint is not None and artifacts.exists(artifacts.join(checkpoint, "state.json"))
    stopped_at = int(preempted.status.report["step"])
    assert 10 <= stopped_at < STEPS
    assert preempted.status.report["total"] == stopped_at * (stopped_at + 1) // 2

    assert platform.cli("resume", "job", "counter").returncode == 0
    done = platform.wait_phase("ParkJob", "default", "counter", {"Succeeded", "Failed"}, timeout=240)
    assert isinstance(done, ParkJob)
    assert (done.status.phase, done.status.attempt, done.status.failed_attempts) == ("Succeeded", 2, 0)
    assert done.status.report["total"] == STEPS * (STEPS + 1) // 2  # no step lost, none counted twice
    assert f"resuming at step {stopped_at}" in platform.cli("logs", "job", "counter").stdout
    listed = json.loads(platform.cli("get", "job", "counter", "-o", "json").stdout)
    assert listed["status"]["checkpoint"] == done.status.checkpoint
    assert platform.cli("delete", "job", "counter").returncode == 0


GATED = """
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: gated}
spec:
  entrypoint: >-
    python -c "from park.workloads.contract import JobContext;
    JobContext.from_env().report(gate='failed', reason='accuracy 0.41 below the gate of 0.60', accuracy=0.41)"
  retries: 2
"""


def test_a_failed_evaluation_gate_fails_the_job_without_retries(platform: Platform) -> None:
    applied = platform.cli("apply", "-f", "-", stdin=GATED)
    assert applied.returncode == 0, applied.stderr
    failed = platform.wait_phase("ParkJob", "default", "gated", {"Succeeded", "Failed"}, timeout=240)
    assert isinstance(failed, ParkJob)
    assert failed.status.phase == "Failed" and failed.status.attempt == 1, "a gate is not retried"
    assert failed.status.message == "evaluation gate failed: accuracy 0.41 below the gate of 0.60"
    assert failed.status.report["accuracy"] == 0.41
    assert "FailedGate" in platform.cli("describe", "job", "gated").stdout
    assert platform.cli("delete", "job", "gated").returncode == 0
