"""A small, fixed platform for screenshots and console tests: a cluster, queues, jobs, a service, federation
nodes, events."""

from __future__ import annotations

from typing import Any

from tests.integration.ui.served import ServedApi

V = "park.dev/v1alpha1"


def job(name: str, phase: str, *, queue: str = "default", attempt: int = 1, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": V,
        "kind": "ParkJob",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"entrypoint": f"python {name}.py", "queue": queue},
        "status": {"phase": phase, "attempt": attempt, **status},
    }


def populate(api: ServedApi) -> None:
    api.put(
        {
            "apiVersion": V,
            "kind": "ParkCluster",
            "metadata": {"name": "default", "namespace": "default"},
            "spec": {"head": {"resources": {"cpu": "8"}}},
            "status": {
                "phase": "Ready",
                "resources": {"CPU": 8.0, "GPU": 0.0},
                "dashboardUrl": "http://127.0.0.1:8265",
            },
        }
    )
    api.put(
        {
            "apiVersion": V,
            "kind": "ParkQueue",
            "metadata": {"name": "default"},
            "spec": {"nominalQuota": {"cpu": "8"}, "cohort": "research"},
            "status": {"admittedJobs": 2, "pendingJobs": 0, "usage": {"used": {"cpu": 6.0}}},
        }
    )
    api.put(
        {
            "apiVersion": V,
            "kind": "ParkQueue",
            "metadata": {"name": "team-a"},
            "spec": {"nominalQuota": {"cpu": "4", "gpu": 2}, "cohort": "research"},
            "status": {
                "admittedJobs": 1,
                "pendingJobs": 3,
                "usage": {"used": {"cpu": 6.0, "gpu": 1.0}, "borrowed": {"cpu": 2.0}},
            },
        }
    )
    api.clock.advance(3600)
    api.put(job("hello", "Succeeded", message="finished"))
    api.put(job("train-lm", "Running", queue="team-a"))
    api.put(job("counter", "Preempted", attempt=2, checkpoint="/data/ckpt/counter/step-20"))
    api.put(
        job(
            "eval-big",
            "Queued",
            queue="team-a",
            attempt=0,
            admission={"admitted": False, "position": 1, "message": "waiting for cpu quota in team-a"},
        )
    )
    api.put(
        {
            "apiVersion": V,
            "kind": "ParkService",
            "metadata": {"name": "chat", "namespace": "default"},
            "spec": {
                "applications": [
                    {
                        "name": "llm",
                        "import_path": "park.workloads.serve.app:build",
                        "deployments": [{"name": "decode", "num_replicas": 2}],
                    }
                ]
            },
            "status": {
                "phase": "Running",
                "endpoints": ["http://127.0.0.1:8000/default/chat"],
                "deployments": [
                    {
                        "application": "llm",
                        "name": "decode",
                        "status": "HEALTHY",
                        "targetReplicas": 2,
                        "runningReplicas": 2,
                    }
                ],
            },
        }
    )
    for name, phase, peer, status in (
        (
            "gpu-box",
            "Online",
            "12D3KooWLRPJAA5o6wG8ZvL3wk3oFzf3VAH6T1ZWbExSxyVhHM9s",
            {
                "reputation": 0.95,
                "credits": 128.0,
                "currentWork": ["w-17"],
                "work": {"completed": 61, "leased": 62},
                "offered": {"cpus": 8, "gpus": 1},
                "address": "/ip4/10.0.0.7/tcp/40111",
            },
        ),
        (
            "laptop",
            "Offline",
            "12D3KooWGzBYTvfVbFBpBFv3hXmy5A5KjJrCVEbzUCLG5vfvPMrR",
            {"reputation": 0.4, "credits": 3.5, "work": {"completed": 4, "expired": 2, "leased": 6}},
        ),
    ):
        api.put(
            {
                "apiVersion": V,
                "kind": "FederatedNode",
                "metadata": {"name": name},
                "spec": {"peerId": peer, "capabilities": {"cpus": 8, "gpus": 1}},
                "status": {"phase": phase, "lastSeen": api.clock.now().isoformat(), **status},
            }
        )
    hello = api.store.get("ParkJob", "default", "hello")
    api.store.record_event(hello, type="Normal", reason="Submitted", message="attempt 1 submitted to Ray")
    api.store.record_event(hello, type="Normal", reason="Succeeded", message="the entrypoint exited 0")
    counter = api.store.get("ParkJob", "default", "counter")
    api.store.record_event(counter, type="Warning", reason="Preempted", message="checkpointed at step 20")
    api.clock.advance(125)
