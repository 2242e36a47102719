"""Two operator replicas, as the Deployment runs them: the Lease holder schedules and reconciles while the
other stands by; SIGKILL the holder and the standby takes over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, kubectl
from .test_operator import (
    OPERATOR_NAMESPACE,
    Operator,
    apply,
    job_yaml,
    running,
    service_account_kubeconfig,
    temporary_queue,
    wait_for,
)

pytestmark = pytest.mark.e2e
LEASE = "park-scheduler-e2e"


class Replica(Operator):
    """An operator process with a short Lease."""

    def start(self) -> None:
        env = {
            **os.environ,
            "PARK_OPERATOR_SCHEDULER_MIN_RUNTIME_SECONDS": "0",
            "PARK_OPERATOR_LEASE_SECONDS": "3",
            "PARK_OPERATOR_LEASE_NAMESPACE": OPERATOR_NAMESPACE,
            "PARK_OPERATOR_LEASE_NAME": LEASE,
        }
        argv = [sys.executable, "-m", "park", "operator", "run", "--kubeconfig", str(self._kubeconfig)]
        with self._log.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )


@pytest.fixture(scope="module")
def replicas(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    directory = tmp_path_factory.mktemp("replicas")
    identity = service_account_kubeconfig(kubeconfig, directory)
    running = [Replica(identity, directory / f"replica-{i}.log") for i in range(2)]
    for replica in running:
        replica.start()
    yield running
    for replica in running:
        replica.stop()
    for replica in running:
        print(replica._log.read_text()[-3000:])  # shown by pytest only when a test failed


def lease_holder(kubeconfig: Path) -> int | None:
    """The pid in the Lease holder's identity (`<host>-<pid>-<random>`), or None."""
    result = kubectl(kubeconfig, "get", "lease", LEASE, "-n", OPERATOR_NAMESPACE, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    holder = json.loads(result.stdout)["spec"].get("holderIdentity") or ""
    parts = holder.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def test_the_standby_takes_over_when_the_active_replica_dies(
    kubeconfig: Path, namespace: str, replicas: list[Replica]
) -> None:
    with temporary_queue(kubeconfig, f"q-{namespace}", 8) as name:
        apply(kubeconfig, namespace, job_yaml("first", name, 5, 2))
        wait_for("first to run", lambda: running(kubeconfig, namespace, "first"), timeout=90)
        pids = {r.process.pid: r for r in replicas if r.process is not None}
        leader = wait_for("a Lease holder", lambda: lease_holder(kubeconfig), timeout=30)
        assert leader in pids, f"the Lease is held by {leader}, not by one of {sorted(pids)}"

        pids[leader].process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        pids[leader].process.wait(10)  # type: ignore[union-attr]
        apply(kubeconfig, namespace, job_yaml("second", name, 5, 2))
        wait_for(
            "the standby to schedule and reconcile the new job",
            lambda: running(kubeconfig, namespace, "second"),
            timeout=120,
        )
        survivor = next(pid for pid in pids if pid != leader)
        assert lease_holder(kubeconfig) == survivor
        rayjobs = json.loads(kubectl(kubeconfig, "get", "rayjobs", "-n", namespace, "-o", "json").stdout)
        owners = sorted(j["metadata"]["labels"]["park.dev/owner-name"] for j in rayjobs["items"])
        assert owners == ["first", "second"]
