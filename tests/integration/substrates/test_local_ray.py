"""The local Ray substrate against real Ray heads on loopback.

One head is shared by the module (a head takes seconds to start); the lifecycle test starts its
own heads because it kills them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from park.client.packaging import zip_directory
from park.control.packages import PackageStore
from park.core.errors import SubstrateError, SubstrateUnavailableError
from park.substrates.interface import (
    TERMINAL_RAY_STATUSES,
    ClusterHandle,
    HeadConfig,
    JobInfo,
    JobSubmission,
)
from park.substrates.local_ray import LocalRaySubstrate

pytestmark = pytest.mark.integration

KEY = "default.shared"
CONFIG = HeadConfig(num_cpus=2, custom_resources={"park-test": 1.0})


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("park-state")


@pytest.fixture(scope="module")
def substrate(state_dir: Path) -> LocalRaySubstrate:
    return LocalRaySubstrate(state_dir=state_dir)


@pytest.fixture(scope="module")
def cluster(substrate: LocalRaySubstrate) -> Iterator[ClusterHandle]:
    try:
        yield substrate.ensure_cluster(KEY, CONFIG)
    finally:
        substrate.stop_cluster(KEY)


def wait_for(
    substrate: LocalRaySubstrate,
    handle: ClusterHandle,
    submission_id: str,
    statuses: frozenset[str] = TERMINAL_RAY_STATUSES,
    timeout_s: float = 60.0,
) -> JobInfo:
    deadline = time.monotonic() + timeout_s
    while True:
        info = substrate.get_job(handle, submission_id)
        assert info is not None
        if info.status in statuses:
            return info
        assert time.monotonic() < deadline, f"{submission_id} still {info.status}: {info.message}"
        time.sleep(0.5)


def process_group_members(pgid: int) -> list[str]:
    ps = subprocess.run(["ps", "-A", "-o", "pgid=,stat=,pid="], capture_output=True, text=True, check=True)
    rows = [line.split() for line in ps.stdout.splitlines()]
    return [row[2] for row in rows if len(row) == 3 and row[0] == str(pgid) and not row[1].startswith("Z")]


def test_head_advertises_the_declared_resources(
    substrate: LocalRaySubstrate, cluster: ClusterHandle, state_dir: Path
) -> None:
    resources = substrate.cluster_resources(cluster)

    assert resources["CPU"] == 2.0
    assert resources["park-test"] == 1.0
    assert resources["object_store_memory"] == 256 * 1024 * 1024
    assert not any(name.startswith("node:") for name in resources)
    assert cluster.gcs_address.rsplit(":", 1)[1].isdigit()
    assert (state_dir / "ray" / KEY / "token").stat().st_mode & 0o777 == 0o600


def test_the_head_and_its_jobs_stay_on_loopback(substrate: LocalRaySubstrate, cluster: ClusterHandle) -> None:
    """The Ray head is on 127.0.0.1, as the README says, and so is the RAY_ADDRESS a job gets (Ray would
    otherwise advertise the machine's external address)."""
    assert cluster.gcs_address.startswith("127.0.0.1:")
    program = "import os; print('ray-address', os.environ['RAY_ADDRESS'])"
    submission = JobSubmission(submission_id="address-1", entrypoint=f'python -c "{program}"')

    assert substrate.submit_job(cluster, submission) is True
    assert wait_for(substrate, cluster, "address-1").status == "SUCCEEDED"
    assert f"ray-address {cluster.gcs_address}\n" in substrate.job_logs(cluster, "address-1")


def test_a_new_control_plane_adopts_the_running_head(state_dir: Path, cluster: ClusterHandle) -> None:
    restarted = LocalRaySubstrate(state_dir=state_dir)

    started = time.monotonic()
    adopted = restarted.ensure_cluster(KEY, CONFIG)

    assert adopted == cluster
    assert time.monotonic() - started < 5.0
    assert restarted.get_cluster(KEY) == cluster


def test_a_ray_program_runs_from_an_uploaded_package(
    substrate: LocalRaySubstrate, cluster: ClusterHandle, tmp_path: Path
) -> None:
    """What `park apply` and the API do to a working_dir, and the file:// URI Ray unpacks on its node."""
    source = tmp_path / "src"
    (source / "lib").mkdir(parents=True)
    (source / "lib" / "squares.py").write_text("def square(x):\n    return x * x\n")
    (source / "main.py").write_text(
        textwrap.dedent(
            """
            import ray
            from lib.squares import square

            ray.init()
            remote_square = ray.remote(square)
            print("park-squares", sum(ray.get([remote_square.remote(i) for i in range(5)])))
            """
        )
    )
    package = zip_directory(source)
    stored, _ = PackageStore(tmp_path / "packages").put("default", package.sha256, package.data)
    assert stored.uri.startswith("file://")
    submission = JobSubmission(
        submission_id="squares-1",
        entrypoint="python main.py",
        runtime_env={"working_dir": stored.uri},
        metadata={"park.dev/job": "squares"},
    )

    assert substrate.submit_job(cluster, submission) is True
    info = wait_for(substrate, cluster, "squares-1")

    assert info.status == "SUCCEEDED", substrate.job_logs(cluster, "squares-1")
    assert info.start_time_ms is not None
    assert info.end_time_ms is not None
    assert "park-squares 30" in substrate.job_logs(cluster, "squares-1")
    assert substrate.submit_job(cluster, submission) is False


def test_a_local_path_is_refused_with_what_to_do(
    substrate: LocalRaySubstrate, cluster: ClusterHandle, tmp_path: Path
) -> None:
    submission = JobSubmission(
        submission_id="local-1", entrypoint="python main.py", runtime_env={"working_dir": str(tmp_path)}
    )
    with pytest.raises(SubstrateError, match="apply the job again with `park apply`"):
        substrate.submit_job(cluster, submission)


def test_a_duplicate_submission_id_does_not_run_twice(
    substrate: LocalRaySubstrate, cluster: ClusterHandle
) -> None:
    first = JobSubmission(submission_id="dup-1", entrypoint="echo first-run")
    second = JobSubmission(submission_id="dup-1", entrypoint="echo second-run")

    assert substrate.submit_job(cluster, first) is True
    assert substrate.submit_job(cluster, second) is False
    info = wait_for(substrate, cluster, "dup-1")

    logs = substrate.job_logs(cluster, "dup-1")
    assert info.status == "SUCCEEDED"
    assert "first-run" in logs
    assert "second-run" not in logs


def test_a_failing_program_is_failed(substrate: LocalRaySubstrate, cluster: ClusterHandle) -> None:
    submission = JobSubmission(
        submission_id="fails-1", entrypoint="python -c 'import sys; print(\"about-to-fail\"); sys.exit(3)'"
    )

    assert substrate.submit_job(cluster, submission) is True
    info = wait_for(substrate, cluster, "fails-1")

    assert info.status == "FAILED"
    assert "about-to-fail" in substrate.job_logs(cluster, "fails-1")


def test_stopping_a_running_job(substrate: LocalRaySubstrate, cluster: ClusterHandle) -> None:
    assert substrate.submit_job(cluster, JobSubmission(submission_id="sleeps-1", entrypoint="sleep 300"))
    wait_for(substrate, cluster, "sleeps-1", statuses=frozenset({"RUNNING"}))

    assert substrate.stop_job(cluster, "sleeps-1") is True
    info = wait_for(substrate, cluster, "sleeps-1", timeout_s=30.0)

    assert info.status == "STOPPED"
    assert substrate.stop_job(cluster, "sleeps-1") is False


def test_unknown_jobs(substrate: LocalRaySubstrate, cluster: ClusterHandle) -> None:
    assert substrate.get_job(cluster, "never-submitted") is None
    assert substrate.stop_job(cluster, "never-submitted") is False


def test_a_killed_head_is_reported_then_replaced_and_stopped(tmp_path: Path) -> None:
    substrate = LocalRaySubstrate(state_dir=tmp_path)
    key = "default.doomed"
    try:
        killed = substrate.ensure_cluster(key, HeadConfig(num_cpus=1))

        os.killpg(killed.pid, signal.SIGKILL)  # the Ray head dies, jobs and all
        assert substrate.get_cluster(key) is None
        started = time.monotonic()
        with pytest.raises(SubstrateUnavailableError):
            substrate.get_job(killed, "anything")
        with pytest.raises(SubstrateUnavailableError):
            substrate.cluster_resources(killed)
        with pytest.raises(SubstrateUnavailableError):
            substrate.submit_job(killed, JobSubmission(submission_id="x", entrypoint="true"))
        assert time.monotonic() - started < 5.0

        replaced = substrate.ensure_cluster(key, HeadConfig(num_cpus=1))
        assert replaced.pid != killed.pid
        assert substrate.cluster_resources(replaced)["CPU"] == 1.0

        substrate.stop_cluster(key)
        assert substrate.get_cluster(key) is None
        assert process_group_members(replaced.pid) == []
        assert not (tmp_path / "ray" / key / "head.json").exists()
        substrate.stop_cluster(key)  # idempotent
    finally:
        substrate.stop_cluster(key)
