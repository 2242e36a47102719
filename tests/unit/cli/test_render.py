"""What the CLI prints: kubectl-like ages, tables with the right columns, YAML/JSON documents."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from rich.console import Console

from park.cli import render
from park.core.flavors import ParkResourceFlavor, ParkResourceFlavorSpec
from park.core.meta import ObjectMeta
from park.core.resources import (
    ComputeResources,
    ParkCluster,
    ParkJob,
    ParkJobSpec,
    ParkQueue,
    ParkQueueSpec,
    ParkService,
    QueueFlavor,
    QueueUsageStatus,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_age_reads_like_kubectl() -> None:
    assert render.age(NOW - timedelta(seconds=42), now=NOW) == "42s"
    assert render.age(NOW - timedelta(minutes=5), now=NOW) == "5m"
    assert render.age(NOW - timedelta(hours=3), now=NOW) == "3h"
    assert render.age(NOW - timedelta(days=9), now=NOW) == "9d"
    assert render.age(None) == "-"


def make_job(name: str, phase: str) -> ParkJob:
    job = ParkJob(
        metadata=ObjectMeta(name=name, namespace="team-a", creation_timestamp=NOW),
        spec=ParkJobSpec(entrypoint="python x.py", queue="gpu"),
    )
    return job.model_copy(update={"status": job.status.model_copy(update={"phase": phase, "attempt": 2})})


def test_job_table_shows_queue_status_and_attempt() -> None:
    console = Console(width=120, record=True)
    console.print(render.table("ParkJob", [make_job("train", "Running")], show_namespace=True))
    text = console.export_text()
    header, row = text.splitlines()[:2]
    assert header.split() == ["NAMESPACE", "NAME", "QUEUE", "STATUS", "ATTEMPT", "MESSAGE", "AGE"]
    assert row.split()[:5] == ["team-a", "train", "gpu", "Running", "2"]


def test_json_output_is_the_full_object_with_status() -> None:
    data = json.loads(render.as_documents([make_job("train", "Succeeded")], "json"))
    assert data["status"]["phase"] == "Succeeded"
    assert data["spec"]["entrypoint"] == "python x.py"


def test_describe_lists_events_with_counts() -> None:
    event = {
        "type": "Warning",
        "reason": "AttemptFailed",
        "message": "exit 3",
        "count": 2,
        "lastTime": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
    }
    page = render.describe(make_job("train", "Failed"), [event])
    assert "AttemptFailed" in page and "(x2)" in page
    assert "Namespace:    team-a" in page


def test_a_piped_table_keeps_each_row_on_one_line() -> None:
    """`park get services | grep chat` (or a copy from a log) gets the whole endpoint URL; a terminal
    narrower than the row still folds it to fit."""
    url = "http://127.0.0.1:59655/default/chat-with-a-long-name/v1"
    service = ParkService.model_validate(
        {
            "metadata": {"name": "chat", "namespace": "default", "creationTimestamp": NOW},
            "spec": {"applications": [{"name": "llm", "import_path": "m:app"}]},
            "status": {"phase": "Running", "endpoints": [url]},
        }
    )
    piped = io.StringIO()
    render.print_table(
        Console(file=piped, width=60), render.table("ParkService", [service], show_namespace=True)
    )
    header, row = piped.getvalue().splitlines()
    assert header.split()[-2:] == ["ENDPOINTS", "AGE"]
    assert row.split()[:4] == ["default", "chat", "default", "Running"] and url in row.split()

    terminal = io.StringIO()
    narrow = Console(file=terminal, width=60, force_terminal=True, color_system=None)
    render.print_table(narrow, render.table("ParkService", [service], show_namespace=True))
    assert (
        url not in terminal.getvalue() and max(len(line) for line in terminal.getvalue().splitlines()) <= 60
    )


def test_queue_table_shows_a_queue_deleted_while_in_use_as_terminating_with_what_it_still_uses() -> None:
    queue = ParkQueue(
        metadata=ObjectMeta(name="team", creation_timestamp=NOW, deletion_timestamp=NOW),
        spec=ParkQueueSpec(nominal_quota=ComputeResources(cpu="8", gpu=2)),
    )
    usage = QueueUsageStatus(used={"cpu": 10.0, "gpu": 2.0, "memory": 2.0**30})
    status = queue.status.model_copy(update={"phase": "Terminating", "admitted_jobs": 1, "usage": usage})
    console = Console(width=120, record=True)
    console.print(
        render.table("ParkQueue", [queue.model_copy(update={"status": status})], show_namespace=False)
    )
    header, row = console.export_text().splitlines()[:2]
    assert header.split() == [
        "NAME",
        "STATUS",
        "COHORT",
        "NOMINAL",
        "USED",
        "BORROWED",
        "ADMITTED",
        "PENDING",
        "AGE",
    ]
    assert row.split()[:7] == ["team", "Terminating", "-", "cpu=8,gpu=2", "cpu=10,gpu=2", "-", "1"]


def test_cluster_table_shows_the_cpus_and_gpus_its_ray_nodes_hold() -> None:
    cluster = ParkCluster(metadata=ObjectMeta(name="gpus", namespace="ml", creation_timestamp=NOW))
    status = cluster.status.model_copy(update={"phase": "Ready", "resources": {"CPU": 10.0, "GPU": 2.0}})
    console = Console(width=120, record=True)
    console.print(
        render.table("ParkCluster", [cluster.model_copy(update={"status": status})], show_namespace=False)
    )
    header, row = console.export_text().splitlines()[:2]
    assert header.split() == ["NAME", "STATUS", "CPUS", "GPUS", "DASHBOARD", "AGE"]
    assert row.split()[:4] == ["gpus", "Ready", "10", "2"]


def test_queue_table_sums_a_flavored_queues_quota_and_the_flavor_table_shows_where_pods_go() -> None:
    flavors = [
        QueueFlavor(name="h100", nominal_quota=ComputeResources(cpu="64", gpu=8)),
        QueueFlavor(name="a100", nominal_quota=ComputeResources(gpu=4)),
    ]
    queue = ParkQueue(
        metadata=ObjectMeta(name="team", creation_timestamp=NOW), spec=ParkQueueSpec(flavors=flavors)
    )
    flavor = ParkResourceFlavor(
        metadata=ObjectMeta(name="h100", creation_timestamp=NOW),
        spec=ParkResourceFlavorSpec(accelerator="nvidia-h100", node_labels={"zone": "us-east1-b"}),
    )
    console = Console(width=120, record=True)
    console.print(render.table("ParkQueue", [queue], show_namespace=False))
    console.print(render.table("ParkResourceFlavor", [flavor], show_namespace=False))
    lines = console.export_text().splitlines()
    assert lines[1].split()[3] == "cpu=64,gpu=12"
    assert lines[2].split()[:5] == ["NAME", "ACCELERATOR", "NODE", "LABELS", "TOLERATIONS"]
    assert lines[3].split()[:4] == ["h100", "nvidia-h100", "zone=us-east1-b", "0"]
