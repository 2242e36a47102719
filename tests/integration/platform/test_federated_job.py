"""A ParkJob with `placement: federated`: the data workload's text embeddings run on community nodes,
are verified, and come back as the same Parquet a local run writes (within the embedding tolerance)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from park.core.resources import ParkJob
from park.federation.identity import Identity
from tests.integration.conftest import REPO, ParkUp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _job(name: str, dataset: Path, output: Path, placement: str) -> str:
    params = {"input": str(dataset), "output": str(output), "modalities": ["text"], "text_chunk_words": 32}
    return f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: {name}}}
spec:
  placement: {placement}
  workload: {{name: data, params: {json.dumps(params)}}}
"""


def _node(platform: ParkUp, root: Path, name: str) -> subprocess.Popen[bytes]:
    """A volunteer with the embedding model: 4 GiB (torch needs it), the daemon's own interpreter."""
    node_dir = root / name
    init = platform.cli(
        "node", "init", "--dir", str(node_dir), "--cpus", "1", "--memory-gib", "4", "--apps", "embed-text"
    )
    assert init.returncode == 0, init.stderr
    config = yaml.safe_load((node_dir / "config.yaml").read_text())
    (node_dir / "config.yaml").write_text(yaml.safe_dump({**config, "runAs": "self"}))
    peer = Identity.load(node_dir / "node.key").peer_id
    invite = platform.cli(
        "federation",
        "invite",
        name,
        "--peer-id",
        peer,
        "--cpus",
        "1",
        "--memory-gib",
        "4",
        "--apps",
        "embed-text",
    )
    assert invite.returncode == 0, invite.stderr
    with (root / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "park", "node", "run", "--dir", str(node_dir), "-v",
             "--token", invite.stdout.strip()],
            env=platform.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _finished(platform: ParkUp, name: str) -> ParkJob:
    job = platform.wait_phase("ParkJob", "default", name, {"Succeeded", "Failed"}, timeout=600)
    assert isinstance(job, ParkJob)
    assert job.status.phase == "Succeeded", job.status.message
    return job


def _rows(output: Path) -> dict[str, tuple[str, np.ndarray]]:
    table = pq.read_table(output)
    ids, texts, vectors = (table.column(c).to_pylist() for c in ("id", "text", "embedding"))
    return {i: (t, np.asarray(v, dtype=np.float64)) for i, t, v in zip(ids, texts, vectors, strict=True)}


def test_a_federated_data_job_writes_what_a_local_run_writes(park_up: ParkUp, tmp_path: Path) -> None:
    dataset = tmp_path / "texts"
    subprocess.run(
        [sys.executable, "-m", "park.workloads.datagen", "--out", str(dataset), "--items", "24",
         "--corrupt", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    local = tmp_path / "local-out"
    applied = park_up.cli("apply", "-f", "-", stdin=_job("embed-local", dataset, local, "cluster"))
    assert applied.returncode == 0, applied.stderr
    _finished(park_up, "embed-local")

    nodes = [_node(park_up, tmp_path, f"volunteer-{i}") for i in range(2)]
    try:
        federated = tmp_path / "federated-out"
        applied = park_up.cli(
            "apply", "-f", "-", stdin=_job("embed-federated", dataset, federated, "federated")
        )
        assert applied.returncode == 0, applied.stderr
        job = _finished(park_up, "embed-federated")
        assert job.status.report["stages"]["written"]["total"] > 0
        listing = park_up.cli("federation", "tasks")
        assert "embed-text" in listing.stdout and "valid" in listing.stdout, listing.stdout
        for i in range(2):
            node = park_up.get("FederatedNode", None, f"volunteer-{i}")
            assert node.status.credits > 0, node.status  # both replicas of each batch agreed
    finally:
        for process in nodes:
            process.send_signal(signal.SIGTERM)
        for process in nodes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()

    ours, theirs = _rows(local), _rows(federated)
    assert set(ours) == set(theirs) and ours
    for row_id, (text, vector) in ours.items():
        other_text, other = theirs[row_id]
        assert other_text == text
        cosine = float(vector @ other / (np.linalg.norm(vector) * np.linalg.norm(other)))
        assert cosine >= 0.9999 and float(np.abs(vector - other).max()) <= 1e-3, row_id
