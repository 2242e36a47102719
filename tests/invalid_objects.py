"""Objects Park refuses, each a sample from manifests/samples with one value made wrong.

The unit tests check that Park's models and the generated CRD schemas both refuse each of them; the e2e
tests check that the real API server does (`kubectl apply` refuses what `park apply` refuses).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SAMPLES = Path(__file__).resolve().parents[1] / "manifests" / "samples"
APP = {"import_path": "park.workloads.serve.app:build"}


@dataclass(frozen=True)
class Invalid:
    id: str
    sample: str
    path: tuple[str | int, ...]
    value: Any
    field: str
    """Named by Park's message and by the API server's."""
    rule: str | None = None
    """Where OpenAPI cannot say it: the message of the CEL rule, or the map key of the list, that does."""

    def document(self) -> dict[str, Any]:
        doc = sample(self.sample)
        node: Any = doc
        for part in self.path[:-1]:
            node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
        node[self.path[-1]] = copy.deepcopy(self.value)
        return doc


def sample(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / name).read_text())
    assert isinstance(doc, dict)
    return doc


JOB, CLUSTER, QUEUE, SERVICE, CLASS, FLAVOR = (
    "parkjob.yaml",
    "parkcluster.yaml",
    "parkqueue.yaml",
    "parkservice.yaml",
    "parkpriorityclass.yaml",
    "parkresourceflavor.yaml",
)
PER_REPLICA = ("spec", "resources", "perReplica")
DEPLOYMENTS = ("spec", "applications", 0, "deployments")
NAME_RULE = "metadata.name must be a DNS label"

INVALID = [
    Invalid("job-cpu-negative", JOB, (*PER_REPLICA, "cpu"), -4, "perReplica.cpu"),
    Invalid("job-cpu-negative-string", JOB, (*PER_REPLICA, "cpu"), "-4", "perReplica.cpu"),
    Invalid("job-cpu-banana", JOB, (*PER_REPLICA, "cpu"), "banana", "perReplica.cpu"),
    Invalid("job-memory-negative", JOB, (*PER_REPLICA, "memory"), "-16Gi", "perReplica.memory"),
    Invalid("job-custom-negative", JOB, (*PER_REPLICA, "custom"), {"tpu": -1}, "perReplica.custom"),
    Invalid("job-driver-memory", JOB, ("spec", "entrypointResources", "memory"), "lots", "memory"),
    Invalid("job-replicas-zero", JOB, ("spec", "resources", "replicas"), 0, "replicas"),
    Invalid("job-retries-negative", JOB, ("spec", "retries"), -1, "retries"),
    Invalid("job-queue-not-a-label", JOB, ("spec", "queue"), "Team_A", "queue"),
    Invalid("job-name-dotted", JOB, ("metadata", "name"), "fine.tune", "metadata.name", NAME_RULE),
    Invalid("job-name-70-chars", JOB, ("metadata", "name"), "j" * 70, "metadata.name", NAME_RULE),
    Invalid("cluster-worker-cpu", CLUSTER, ("spec", "workerGroups", 0, "resources", "cpu"), -4, "cpu"),
    Invalid("cluster-head-memory", CLUSTER, ("spec", "head", "resources", "memory"), "8 GB", "memory"),
    Invalid("cluster-name-dotted", CLUSTER, ("metadata", "name"), "ray.main", "metadata.name", NAME_RULE),
    Invalid("queue-quota-negative", QUEUE, ("spec", "nominalQuota", "cpu"), -8, "nominalQuota.cpu"),
    Invalid("queue-quota-gpu-negative", QUEUE, ("spec", "nominalQuota", "gpu"), -1, "nominalQuota.gpu"),
    Invalid("queue-weight-zero", QUEUE, ("spec", "fairShareWeight"), 0, "fairShareWeight"),
    Invalid("queue-name-70-chars", QUEUE, ("metadata", "name"), "q" * 70, "metadata.name", NAME_RULE),
    Invalid(
        "queue-flavors-and-plain-quota",
        QUEUE,
        ("spec", "flavors"),
        [{"name": "h100", "nominalQuota": {"gpu": 8}}],
        "flavors",
        "a queue with flavors sets its quota per flavor: move nominalQuota, borrowingLimit and lendingLimit "
        "into spec.flavors[]",
    ),
    Invalid("queue-flavor-not-a-label", QUEUE, ("spec", "flavors"), [{"name": "H100"}], "flavors"),
    Invalid("flavor-toleration-effect", FLAVOR, ("spec", "tolerations", 0, "effect"), "Never", "effect"),
    Invalid("class-value-too-high", CLASS, ("spec", "value"), 2_000_000, "value"),
    Invalid("service-replicas-negative", SERVICE, (*DEPLOYMENTS, 0, "num_replicas"), -3, "num_replicas"),
    Invalid("service-replicas-words", SERVICE, (*DEPLOYMENTS, 0, "num_replicas"), "many", "num_replicas"),
    Invalid(
        "service-deployment-twice",
        SERVICE,
        DEPLOYMENTS,
        [{"name": "decode"}, {"name": "decode"}],
        "deployments",
        "name",
    ),
    Invalid(
        "service-application-twice",
        SERVICE,
        ("spec", "applications"),
        [APP, APP],
        "applications",
        "applications[].name must be unique (an application without a name is named 'app')",
    ),
    Invalid("service-route-prefix", SERVICE, (*DEPLOYMENTS[:3], "route_prefix"), "v1", "route_prefix"),
]
