"""The examples, applied from examples/ with the same `park` CLI on `park up` and on Kubernetes (real pods).

Each test reads an example's YAML as a user would apply it; where the example names something only the
user can know (the dataset's location, the checkpoint to evaluate) or is sized for a bigger machine (the
training steps), the test changes that field and nothing else. On Kubernetes the jobs run as RayJobs on
the e2e cluster's real node, local working directories travel through the object store (MinIO), and
checkpoints and datasets live there too (s3://); on `park up` they are local paths.

The tests build on each other in file order, as a user would: train, then evaluate what it wrote, then
serve it. On Kubernetes every self-contained one (no local directory to upload: all but hello) goes in
through `kubectl apply`, and `park apply` of the same YAML afterwards finds it `unchanged`, so both doors
lead to the same object; hello goes through `park apply`, which uploads its directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from park.core.resources import ParkJob, ParkService
from park.workloads import artifacts
from tests.integration.conftest import wait_for

from .conftest import REPO, kubectl
from .platforms import OnKubernetes, Platform, kubernetes, operator, park_up, platform, reachable

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
__all__ = ["kubernetes", "operator", "park_up", "platform"]  # fixtures
EXAMPLES = REPO / "examples"
TRAIN_STEPS = 240


def example(path: str, **changes: Any) -> dict[str, Any]:
    """An example's YAML, with `changes` laid over its `spec.workload.params` (dotted keys for spec)."""
    document = yaml.safe_load((EXAMPLES / path).read_text())
    for key, value in changes.items():
        if key.startswith("spec."):
            document["spec"][key.removeprefix("spec.")] = value
        else:
            document["spec"]["workload"]["params"][key] = value
    return dict(document)


def apply(platform: Platform, document: dict[str, Any]) -> None:
    applied = platform.cli("apply", "-f", "-", stdin=yaml.safe_dump(document))
    assert applied.returncode == 0, applied.stderr


def apply_with_kubectl(platform: Platform, document: dict[str, Any]) -> None:
    """On Kubernetes, `kubectl apply` of the YAML, then `park apply` of the same YAML changes nothing; on
    `park up` (no kubectl there) `park apply`."""
    if not isinstance(platform, OnKubernetes):
        apply(platform, document)
        return
    text = yaml.safe_dump(document)
    kubectl(platform.kubeconfig, "apply", "-n", "default", "-f", "-", stdin=text)
    again = platform.cli("apply", "-f", "-", stdin=text)
    assert again.returncode == 0 and again.stdout.strip().endswith("unchanged"), (again.stdout, again.stderr)


def finished(platform: Platform, name: str, timeout: float = 420) -> ParkJob:
    job = platform.wait_phase("ParkJob", "default", name, {"Succeeded", "Failed"}, timeout=timeout)
    assert isinstance(job, ParkJob)
    return job


def storage(platform: Platform, tmp_path: Path, name: str) -> str:
    """Where a user of this platform keeps data its jobs read: a directory here, or the object store."""
    if isinstance(platform, OnKubernetes):
        return f"s3://{platform.bucket}/examples/{name}"
    return str(tmp_path / name)


def test_hello_runs_its_uploaded_working_directory(platform: Platform) -> None:
    applied = platform.cli("apply", "-f", str(EXAMPLES / "hello-job.yaml"))
    assert applied.returncode == 0, applied.stderr
    done = finished(platform, "hello", timeout=300)
    assert done.status.phase == "Succeeded", done.status.message
    logs = platform.cli("logs", "job", "hello").stdout
    assert "pi is about 3.1" in logs and "hello from Park: done" in logs
    assert platform.cli("delete", "job", "hello").returncode == 0


def test_the_data_pipeline_curates_a_generated_dataset(platform: Platform, tmp_path: Path) -> None:
    dataset = storage(platform, tmp_path, "mixed")
    generated = tmp_path / "mixed"
    datagen = ["park.workloads.datagen", "--out", str(generated), "--items", "30", "--corrupt", "1"]
    subprocess.run([sys.executable, "-m", *datagen], check=True, capture_output=True)
    if artifacts.is_uri(dataset):  # uploaded as a user would, with their own object-store tools
        for file in (f for f in generated.rglob("*") if f.is_file()):
            key = str(file.relative_to(generated))
            artifacts.write_bytes(artifacts.join(dataset, key), file.read_bytes())
    apply_with_kubectl(platform, example("workloads/data.yaml", input=dataset))
    job = finished(platform, "curate")
    assert job.status.phase == "Succeeded", job.status.message
    stages = job.status.report["stages"]
    assert stages["invalid"]["total"] == 3  # one corrupt file per modality
    assert stages["written"]["total"] == stages["embedded"]["total"] > 0
    assert job.status.report["embeddingDim"] == {"text": 384, "image": 1280, "audio": 256}
    assert platform.cli("delete", "job", "curate").returncode == 0


URGENT = """
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: urgent}
spec:
  priority: 100
  entrypoint: python -c "print('urgent work done')"
"""


def test_training_yields_to_a_higher_priority_job_and_resumes_from_its_checkpoint(platform: Platform) -> None:
    apply_with_kubectl(
        platform, example("workloads/train.yaml", steps=TRAIN_STEPS, checkpoint_every_steps=20)
    )

    def trained_a_while() -> bool:
        job = platform.get("ParkJob", "default", "charlm")
        return job.status.phase == "Running" and int(job.status.report.get("step") or 0) >= 20

    wait_for(trained_a_while, timeout=480, what="training to pass step 20")
    apply_with_kubectl(platform, yaml.safe_load(URGENT))  # with training, more than the queue holds
    preempted = platform.wait_phase("ParkJob", "default", "charlm", {"Preempted", "Failed"}, timeout=180)
    assert isinstance(preempted, ParkJob)
    assert preempted.status.phase == "Preempted", preempted.status.message
    checkpoint = str(preempted.status.checkpoint)
    assert artifacts.exists(artifacts.join(checkpoint, "charlm.json")), checkpoint
    stopped_at = int(preempted.status.report["step"])
    assert 20 <= stopped_at < TRAIN_STEPS
    urgent = finished(platform, "urgent")
    assert urgent.status.phase == "Succeeded", urgent.status.message

    done = finished(platform, "charlm", timeout=600)
    assert (done.status.phase, done.status.attempt) == ("Succeeded", 2), done.status.message
    assert int(done.status.report["step"]) == TRAIN_STEPS
    assert f"at step {stopped_at}" in platform.cli("logs", "job", "charlm").stdout  # resumed, not restarted
    assert artifacts.exists(artifacts.join(str(done.status.checkpoint), "charlm.json"))
    assert platform.cli("delete", "job", "urgent").returncode == 0


def test_eval_gates_the_trained_checkpoint(platform: Platform) -> None:
    trained = platform.get("ParkJob", "default", "charlm")
    checkpoint = trained.status.checkpoint
    assert isinstance(trained, ParkJob) and checkpoint, "runs after the training test"
    lenient = example("workloads/eval.yaml", checkpoint=checkpoint, baseline={"loss": 100.0})
    strict = example("workloads/eval.yaml", checkpoint=checkpoint, baseline={"loss": 0.01})
    strict["metadata"]["name"] = "charlm-eval-strict"
    apply_with_kubectl(platform, lenient)
    apply_with_kubectl(platform, strict)
    passed, failed = finished(platform, "charlm-eval"), finished(platform, "charlm-eval-strict")
    assert passed.status.phase == "Succeeded", passed.status.message
    assert passed.status.report["gate"] == "passed"
    assert artifacts.exists(artifacts.join(checkpoint, "eval_metrics.json"))
    assert failed.status.phase == "Failed" and failed.status.attempt == 1, "a failed gate is not retried"
    assert str(failed.status.message).startswith("evaluation gate failed")
    assert "FailedGate" in platform.cli("describe", "job", "charlm-eval-strict").stdout
    for name in ("charlm-eval", "charlm-eval-strict"):
        assert platform.cli("delete", "job", name).returncode == 0


def test_the_chat_service_serves_the_trained_model_to_openai_clients(platform: Platform) -> None:
    apply_with_kubectl(platform, yaml.safe_load((EXAMPLES / "serving" / "chat.yaml").read_text()))
    running = platform.wait_phase("ParkService", "default", "chat", {"Running", "Failed"}, timeout=420)
    assert isinstance(running, ParkService)
    assert running.status.phase == "Running", running.status.message
    (endpoint,) = running.status.endpoints
    base_url = f"{reachable(platform, endpoint)}/v1"

    def answers() -> bool:  # on Kubernetes the Service's route lands a moment after Serve reports healthy
        try:
            return httpx.get(f"{base_url}/models", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, timeout=60, what=f"{base_url} to answer")
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
    request: dict[str, Any] = {"model": "charlm", "prompt": "def ", "max_tokens": 8, "temperature": 0}
    completion = client.completions.create(**request)
    assert len(completion.choices[0].text) == 8
    stream = client.completions.create(**request, stream=True)
    assert "".join(chunk.choices[0].text for chunk in stream if chunk.choices) == completion.choices[0].text
    assert platform.cli("delete", "service", "chat").returncode == 0

    def gone() -> bool:
        return "chat" not in platform.cli("get", "services").stdout

    wait_for(gone, timeout=120, what="the chat service to be deleted")
    assert platform.cli("delete", "job", "charlm").returncode == 0
