"""Quota on the real `park up`: a queue deleted while its work runs stays Terminating until that work is
gone, as on Kubernetes (the same scheduler and finalizer, over the SQLite store); a ParkCluster that names
a queue is charged to it and waits Queued, its head not started, when it does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from park.core.errors import NotFoundError
from park.core.resources import ParkCluster, ParkJob, ParkQueue
from tests.integration.conftest import ParkUp, wait_for

pytestmark = pytest.mark.integration

QUEUE = """
apiVersion: park.dev/v1alpha1
kind: ParkQueue
metadata: {name: closing}
spec: {nominalQuota: {cpu: 1}}
"""


def waiting_job(name: str, release: Path) -> str:
    """A job that runs until `release` exists, so the test decides when its work is gone."""
    return f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: {name}}}
spec:
  queue: closing
  entrypoint: "while [ ! -e {release} ]; do sleep 0.2; done"
"""


def queue_gone(park_up: ParkUp) -> bool:
    try:
        park_up.get("ParkQueue", None, "closing")
    except NotFoundError:
        return True
    return False


def test_a_queue_deleted_while_its_job_runs_is_terminating_until_the_job_is_done(
    park_up: ParkUp, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    assert park_up.cli("apply", "-f", "-", stdin=QUEUE).returncode == 0
    assert park_up.cli("apply", "-f", "-", stdin=waiting_job("holder", release)).returncode == 0
    park_up.wait_phase("ParkJob", "default", "holder", {"Running"}, timeout=120)

    deleted = park_up.cli("delete", "queue", "closing")
    assert deleted.returncode == 0, deleted.stderr
    assert "queue/closing deleted (finishing: cleanup in progress)" in deleted.stdout
    queue = park_up.get("ParkQueue", None, "closing")
    assert isinstance(queue, ParkQueue) and queue.metadata.deletion_timestamp is not None

    def listed_terminating() -> bool:
        rows = park_up.cli("get", "queues").stdout.splitlines()
        return any(row.split()[:2] == ["closing", "Terminating"] for row in rows)

    wait_for(listed_terminating, timeout=30, what="park get queues to show closing Terminating")
    assert park_up.cli("apply", "-f", "-", stdin=waiting_job("late", release)).returncode == 0

    def told_why() -> str | None:
        late = park_up.get("ParkJob", "default", "late")
        admission = late.status.admission if isinstance(late, ParkJob) else None
        return admission.message if admission is not None and "being deleted" in admission.message else None

    wait_for(told_why, timeout=30, what="the late job to be told the queue admits nothing new")
    late = park_up.get("ParkJob", "default", "late")
    assert late.status.phase == "Queued"

    release.touch()
    park_up.wait_phase("ParkJob", "default", "holder", {"Succeeded"}, timeout=60)
    wait_for(lambda: queue_gone(park_up), timeout=30, what="the queue to go once its job finished")
    assert "closing" not in park_up.cli("get", "queues").stdout
    assert park_up.cli("delete", "job", "late").returncode == 0


CLUSTER = """
apiVersion: park.dev/v1alpha1
kind: ParkCluster
metadata: {name: big}
spec:
  queue: default
  head: {resources: {cpu: 64}}
"""


def test_a_cluster_charged_to_a_queue_it_cannot_fit_waits_queued_without_a_head(park_up: ParkUp) -> None:
    """park up's default queue holds the machine's CPUs (2 here): a 64-CPU cluster charged to it waits."""
    assert park_up.cli("apply", "-f", "-", stdin=CLUSTER).returncode == 0

    def queued() -> ParkCluster | None:
        cluster = park_up.get("ParkCluster", "default", "big")
        return cluster if isinstance(cluster, ParkCluster) and cluster.status.phase == "Queued" else None

    cluster = wait_for(queued, timeout=30, what="the cluster to be Queued")
    assert isinstance(cluster, ParkCluster)
    assert cluster.status.message is not None
    assert cluster.status.message.startswith("cannot ever fit: needs 64 cpu, default can hold at most 2 cpu")
    assert cluster.status.dashboard_url is None  # no Ray head was started for it
    rows = park_up.cli("get", "clusters").stdout.splitlines()
    assert any(row.split()[:4] == ["big", "Queued", "0", "0"] for row in rows)
    assert park_up.cli("delete", "cluster", "big").returncode == 0
