"""The `train` and `eval` workloads as the platform runs them: `python -m ...` with the contract's
environment, a private local Ray per run, SIGTERM to the driver for a preemption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from park.workloads.corpus import stdlib_docstrings
from tests.integration.conftest import REPO, wait_for

pytestmark = pytest.mark.integration

STEPS = 200
PREEMPT_AFTER = 30
TINY = {
    "steps": STEPS,
    "num_workers": 2,
    "d_model": 64,
    "n_head": 4,
    "n_layer": 2,
    "block_size": 64,
    "batch_size": 16,
    "checkpoint_every_steps": 50,
    "log_every_steps": 5,
    "max_corpus_chars": 200_000,
}


@dataclass(frozen=True)
class Job:
    job_dir: Path
    name: str

    def report(self) -> dict[str, Any]:
        try:
            data = json.loads((self.job_dir / "report.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def start(
        self, module: str, params: dict[str, Any], *, attempt: int = 1, resume_from: str | None = None
    ) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PARK_JOB_NAMESPACE": "default",
            "PARK_JOB_NAME": self.name,
            "PARK_ATTEMPT": str(attempt),
            "PARK_JOB_DIR": str(self.job_dir),
            "PARK_PREEMPT_GRACE_SECONDS": "60",
            "PARK_WORKLOAD_PARAMS": json.dumps(params),
            "RAY_ADDRESS": "local",  # a private Ray per run, never someone else's cluster
        }
        env.pop("PARK_RESUME_FROM", None)
        if resume_from:
            env["PARK_RESUME_FROM"] = resume_from
        self.job_dir.mkdir(parents=True, exist_ok=True)
        with (self.job_dir / f"{module.rsplit('.', 1)[-1]}-{attempt}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", module], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )

    def run(self, module: str, params: dict[str, Any], **kwargs: Any) -> int:
        process = self.start(module, params, **kwargs)
        try:
            return process.wait(timeout=150)
        finally:
            _stop(process)

    def log(self, module: str, attempt: int = 1) -> str:
        return (self.job_dir / f"{module.rsplit('.', 1)[-1]}-{attempt}.log").read_text()[-3000:]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(30)


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    corpus = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    corpus.write_text(stdlib_docstrings(max_chars=200_000))
    return {**TINY, "corpus": str(corpus)}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, params: dict[str, Any]) -> Job:
    job = Job(tmp_path_factory.mktemp("straight"), "straight")
    code = job.run("park.workloads.train", params)
    assert code == 0, job.log("park.workloads.train")
    return job


def test_an_uninterrupted_run_trains_and_reports(uninterrupted: Job) -> None:
    report = uninterrupted.report()
    assert (report["state"], report["done"], report["step"], report["startStep"]) == (
        "Succeeded",
        True,
        STEPS,
        0,
    )
    assert report["resumedFrom"] is None and "resumeFrom" not in report  # one name, documented
    assert report["loss"] < 3.0  # from ln(95) = 4.55 for a uniform guess
    assert report["tokensPerSecond"] > 0
    final = Path(report["checkpoint"])
    assert final.name == f"checkpoint_{STEPS:08d}"
    assert {"charlm.json", "model.pt", "train_state.pt"} <= {p.name for p in final.iterdir()}


def test_a_preempted_run_resumes_to_the_same_result(
    uninterrupted: Job, params: dict[str, Any], tmp_path: Path
) -> None:
    job = Job(tmp_path / "job", "preempted")
    first = job.start("park.workloads.train", params)
    try:
        wait_for(
            lambda: job.report().get("step", 0) >= PREEMPT_AFTER or first.poll() is not None,
            timeout=120,
            what=f"step {PREEMPT_AFTER}",
        )
        first.send_signal(signal.SIGTERM)  # what stopping the Ray job does to the driver
        assert first.wait(timeout=60) == 0, job.log("park.workloads.train")
    finally:
        _stop(first)
    preempted = job.report()
    assert (preempted["state"], preempted["preempted"]) == ("Preempted", True)
    stopped_at = preempted["step"]
    assert PREEMPT_AFTER <= stopped_at < STEPS
    checkpoint = preempted["checkpoint"]
    assert Path(checkpoint).name == f"checkpoint_{stopped_at:08d}"  # saved at once, not at the last interval

    code = job.run("park.workloads.train", params, attempt=2, resume_from=checkpoint)
    assert code == 0, job.log("park.workloads.train", 2)
    resumed = job.report()
    assert (resumed["attempt"], resumed["startStep"], resumed["resumedFrom"]) == (2, stopped_at, checkpoint)
    assert (resumed["state"], resumed["step"]) == ("Succeeded", STEPS)
    assert resumed["loss"] == pytest.approx(uninterrupted.report()["loss"], abs=1e-4)


def test_eval_writes_metrics_and_gates_on_the_baseline(uninterrupted: Job, tmp_path: Path) -> None:
    checkpoint = uninterrupted.report()["checkpoint"]
    job = Job(tmp_path / "eval", "eval")

    assert job.run("park.workloads.eval", {"checkpoint": checkpoint}) == 0, job.log("park.workloads.eval")
    metrics = json.loads((Path(checkpoint) / "eval_metrics.json").read_text())
    assert metrics["loss"] < 3.0 and 0.2 < metrics["accuracy"] < 1.0
    assert metrics["perplexity"] > 1.0 and metrics["step"] == STEPS
    assert job.report()["gate"] == "passed"

    tight = {"loss": metrics["loss"] * 0.9}
    code = job.run(
        "park.workloads.eval", {"checkpoint": checkpoint, "baseline": tight, "max_regression": 0.05}
    )
    assert code == 3
    failed = job.report()
    assert failed["gate"] == "failed" and failed["reason"].startswith("regression: ")
    assert failed["metrics"]["loss"] == pytest.approx(metrics["loss"])  # deterministic

    loose = {"loss": metrics["loss"] * 0.97}
    assert job.run("park.workloads.eval", {"checkpoint": checkpoint, "baseline": loose}) == 0
    assert job.report()["gate"] == "passed"
