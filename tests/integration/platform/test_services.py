"""ParkService on the embedded platform: deployed to Ray Serve through its REST API, autoscaled by
Serve, its spikes placed in the scheduler at the service's priority (preempting training, which
resumes from its checkpoint once the traffic falls), and removed from Serve when deleted."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
import torch

from park.core.resources import ParkJob, ParkService
from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab, save_charlm
from tests.integration.conftest import REPO, ParkUp, wait_for

pytestmark = pytest.mark.integration

COUNTER = REPO / "examples" / "checkpointing"
STEPS = 300

SERVICE = """
apiVersion: park.dev/v1alpha1
kind: ParkService
metadata: {name: sleepy}
spec:
  priority: 100
  applications:
  - name: web
    import_path: tests.integration.serve_apps:sleepy
    deployments:
    - name: Sleepy
      max_ongoing_requests: 2
      ray_actor_options: {num_cpus: 0.5}
      autoscaling_config:
        min_replicas: 1
        max_replicas: 3
        target_ongoing_requests: 1
        upscale_delay_s: 0.5
        downscale_delay_s: 3
        look_back_period_s: 1
"""

TRAINING = f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: backlog}}
spec:
  priority: 0
  entrypoint: python counter.py --steps {STEPS} --every 5 --step-seconds 0.2
  runtimeEnv: {{working_dir: {COUNTER}}}
  checkpoint: {{preemptionGraceSeconds: 20}}
"""


def service(park_up: ParkUp) -> ParkService:
    found = park_up.get("ParkService", "default", "sleepy")
    assert isinstance(found, ParkService)
    return found


def job(park_up: ParkUp) -> ParkJob:
    found = park_up.get("ParkJob", "default", "backlog")
    assert isinstance(found, ParkJob)
    return found


def test_a_serving_spike_preempts_training_which_resumes_when_traffic_falls(park_up: ParkUp) -> None:
    assert park_up.cli("apply", "-f", "-", stdin=TRAINING).returncode == 0
    wait_for(lambda: job(park_up).status.phase == "Running", timeout=120, what="training to run")

    applied = park_up.cli("apply", "-f", "-", stdin=SERVICE)
    assert applied.returncode == 0, applied.stderr
    running = park_up.wait_phase("ParkService", "default", "sleepy", {"Running", "Failed"}, timeout=180)
    assert isinstance(running, ParkService)
    assert running.status.phase == "Running", running.status.message
    (endpoint,) = running.status.endpoints
    assert endpoint.endswith("/default/sleepy")
    assert httpx.get(endpoint, params={"seconds": 0}, timeout=10).json()["slept"] == 0
    listed = park_up.cli("get", "services")
    assert "sleepy" in listed.stdout and "Running" in listed.stdout and "1/1" in listed.stdout
    assert job(park_up).status.phase == "Running", "1 CPU of training and 0.5 of serving fit in 2"

    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                try:
                    client.get(endpoint, params={"seconds": 2})
                except httpx.HTTPError:
                    time.sleep(0.1)

    senders = [threading.Thread(target=traffic, daemon=True) for _ in range(6)]
    for sender in senders:
        sender.start()
    try:
        preempted = park_up.wait_phase("ParkJob", "default", "backlog", {"Preempted", "Failed"}, timeout=120)
        assert isinstance(preempted, ParkJob)
        assert preempted.status.phase == "Preempted", preempted.status.message
        stopped_at = int(preempted.status.report["step"])
        wait_for(
            lambda: sum(d.running_replicas for d in service(park_up).status.deployments) == 3,
            timeout=90,
            what="Serve to run 3 replicas on the capacity training gave up",
        )
        # The grant is written by the scheduler's next cycle once the preempted job's release is seen,
        # which may land just after Serve started the third replica.
        wait_for(
            lambda: (a := service(park_up).status.admission) is not None and a.replicas == {"web/Sleepy": 3},
            timeout=30,
            what="the service's admission to grant 3 replicas",
        )
    finally:
        stop.set()
        for sender in senders:
            sender.join(60)

    done = park_up.wait_phase("ParkJob", "default", "backlog", {"Succeeded", "Failed"}, timeout=240)
    assert isinstance(done, ParkJob)
    assert (done.status.phase, done.status.attempt) == ("Succeeded", 2), done.status.message
    assert done.status.report["total"] == STEPS * (STEPS + 1) // 2  # resumed from its checkpoint
    assert f"resuming at step {stopped_at}" in park_up.cli("logs", "job", "backlog").stdout
    assert service(park_up).status.admission.replicas["web/Sleepy"] < 3  # type: ignore[union-attr]

    assert park_up.cli("delete", "service", "sleepy").returncode == 0

    def gone() -> bool:
        with park_up.client() as client:
            names = [s.metadata.name for s in client.list_objects("ParkService", namespace="default")]
        return "sleepy" not in names

    wait_for(gone, timeout=60, what="the service to be deleted")
    assert httpx.get(endpoint, timeout=10).status_code == 404, "its Serve application is gone"


def test_a_service_serve_refuses_fails_with_one_line(park_up: ParkUp) -> None:
    bad = SERVICE.replace("name: sleepy", "name: broken")
    bad = bad.replace("max_ongoing_requests: 2", "max_ongoing_requests: -1")
    assert park_up.cli("apply", "-f", "-", stdin=bad).returncode == 0
    failed = park_up.wait_phase("ParkService", "default", "broken", {"Failed", "Running"}, timeout=60)
    assert failed.status.phase == "Failed"
    assert "max_ongoing_requests" in (failed.status.message or "")
    assert "\n" not in (failed.status.message or "")
    assert park_up.cli("delete", "service", "broken").returncode == 0


def test_a_service_whose_replicas_cannot_start_fails_with_its_cause_and_no_endpoint(park_up: ParkUp) -> None:
    unready = """
apiVersion: park.dev/v1alpha1
kind: ParkService
metadata: {name: unready}
spec:
  applications:
  - name: web
    import_path: tests.integration.serve_apps:unready
    deployments:
    - {name: Unready, ray_actor_options: {num_cpus: 0.1}}
"""
    assert park_up.cli("apply", "-f", "-", stdin=unready).returncode == 0
    failed = park_up.wait_phase("ParkService", "default", "unready", {"Failed", "Running"}, timeout=180)
    assert failed.status.phase == "Failed"
    assert failed.status.message.endswith("FileNotFoundError: no weights at /nowhere/model.pt")  # type: ignore[union-attr]
    assert failed.status.endpoints == []
    table = park_up.cli("get", "services").stdout
    (row,) = [line for line in table.splitlines() if line.startswith("unready ")]
    assert row.split()[4] == "-"  # ENDPOINTS
    described = park_up.cli("describe", "service", "unready").stdout
    assert len(described) < 4000 and "Traceback" not in described, described
    assert park_up.cli("delete", "service", "unready").returncode == 0


def test_the_llm_app_serves_openai_clients_through_a_parkservice(park_up: ParkUp, tmp_path: Path) -> None:
    vocab = CharVocab("abcdefghijklmnopqrstuvwxyz .,\n")
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=len(vocab), block_size=64, n_layer=2, n_head=4, d_model=32))
    save_charlm(tmp_path / "tiny", model, vocab)
    service_yaml = f"""
apiVersion: park.dev/v1alpha1
kind: ParkService
metadata: {{name: chat}}
spec:
  priority: 100
  applications:
  - name: llm
    import_path: park.workloads.serve.app:build
    args: {{model: {tmp_path / "tiny"}, served_model_name: tiny}}
    deployments:
    - {{name: prefill, ray_actor_options: {{num_cpus: 0.5}}}}
    - {{name: decode, ray_actor_options: {{num_cpus: 0.5}}}}
"""
    assert park_up.cli("apply", "-f", "-", stdin=service_yaml).returncode == 0
    running = park_up.wait_phase("ParkService", "default", "chat", {"Running", "Failed"}, timeout=240)
    assert running.status.phase == "Running", running.status.message
    (endpoint,) = running.status.endpoints
    client = openai.OpenAI(base_url=f"{endpoint}/v1", api_key="unused", max_retries=0, timeout=60)
    prompt = "the quick brown"
    completion = client.completions.create(model="tiny", prompt=prompt, max_tokens=8, temperature=0)
    assert len(completion.choices[0].text) == 8
    stream = client.completions.create(model="tiny", prompt=prompt, max_tokens=8, temperature=0, stream=True)
    streamed = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)
    assert streamed == completion.choices[0].text, "greedy: streaming and not streaming agree"
    assert park_up.cli("delete", "service", "chat").returncode == 0
