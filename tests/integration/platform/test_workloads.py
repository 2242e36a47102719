"""The built-in workloads through `park apply`: data, train (preempted and resumed), eval's gate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from park.core.resources import ParkJob
from tests.integration.conftest import ParkUp, wait_for

pytestmark = pytest.mark.integration

TRAIN_STEPS = 120


def workload_job(name: str, workload: str, params: dict[str, object], *, grace: int = 60) -> str:
    return f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: {name}}}
spec:
  workload: {{name: {workload}, params: {json.dumps(params)}}}
  checkpoint: {{preemptionGraceSeconds: {grace}}}
"""


def finished(park_up: ParkUp, name: str, timeout: float = 420) -> ParkJob:
    job = park_up.wait_phase("ParkJob", "default", name, {"Succeeded", "Failed"}, timeout=timeout)
    assert isinstance(job, ParkJob)
    return job


def test_the_data_pipeline_reports_its_stage_counts_into_the_job_status(
    park_up: ParkUp, tmp_path: Path
) -> None:
    dataset = tmp_path / "mixed"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "park.workloads.datagen",
            "--out",
            str(dataset),
            "--items",
            "45",
            "--corrupt",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    applied = park_up.cli("apply", "-f", "-", stdin=workload_job("curate", "data", {"input": str(dataset)}))
    assert applied.returncode == 0, applied.stderr
    job = finished(park_up, "curate")
    assert job.status.phase == "Succeeded", job.status.message
    stages = job.status.report["stages"]
    assert stages["invalid"]["total"] == 3  # one corrupt file per modality
    assert stages["duplicates"]["total"] > 0
    assert stages["written"]["total"] == stages["embedded"]["total"] > 0
    assert job.status.report["embeddingDim"] == {"text": 384, "image": 1280, "audio": 256}
    assert list(Path(job.status.report["output"]).glob("*.parquet"))


def test_training_is_preempted_then_resumes_from_its_checkpoint_and_finishes(park_up: ParkUp) -> None:
    params = {"steps": TRAIN_STEPS, "checkpoint_every_steps": 20, "num_workers": 1, "seed": 7}
    assert park_up.cli("apply", "-f", "-", stdin=workload_job("charlm", "train", params)).returncode == 0

    def trained_a_while() -> bool:
        job = park_up.get("ParkJob", "default", "charlm")
        return job.status.phase == "Running" and int(job.status.report.get("step") or 0) >= 30

    wait_for(trained_a_while, timeout=300, what="training to pass step 30")
    assert park_up.cli("suspend", "job", "charlm").returncode == 0
    preempted = park_up.wait_phase("ParkJob", "default", "charlm", {"Preempted", "Failed"}, timeout=120)
    assert preempted.status.phase == "Preempted", preempted.status.message
    assert preempted.status.checkpoint is not None
    stopped_at = int(preempted.status.report["step"])
    assert 30 <= stopped_at < TRAIN_STEPS

    assert park_up.cli("resume", "job", "charlm").returncode == 0
    done = finished(park_up, "charlm")
    assert (done.status.phase, done.status.attempt) == ("Succeeded", 2), done.status.message
    assert int(done.status.report["step"]) == TRAIN_STEPS
    assert float(done.status.report["loss"]) < 4.0  # a char LM starts near ln(vocab) ≈ 4.5
    assert Path(str(done.status.checkpoint)).exists()


def test_evaluation_gates_on_the_baseline(park_up: ParkUp) -> None:
    trained = park_up.get("ParkJob", "default", "charlm")
    checkpoint = trained.status.checkpoint
    assert checkpoint, "runs after the training test"
    impossible = {"loss": 0.01}
    lenient = {"loss": 100.0}
    for name, baseline in (("gate-fails", impossible), ("gate-passes", lenient)):
        params = {"checkpoint": checkpoint, "baseline": baseline, "max_regression": 0.05}
        assert park_up.cli("apply", "-f", "-", stdin=workload_job(name, "eval", params)).returncode == 0
    failed, passed = finished(park_up, "gate-fails"), finished(park_up, "gate-passes")
    assert failed.status.phase == "Failed"
    assert failed.status.message is not None and failed.status.message.startswith("evaluation gate failed")
    assert failed.status.attempt == 1  # a failed gate is not retried
    assert passed.status.phase == "Succeeded", passed.status.message
    assert (Path(checkpoint) / "eval_metrics.json").exists()
