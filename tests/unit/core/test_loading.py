"""What a user sees when their YAML is right, and the one line they get when it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from park.core.errors import InvalidError
from park.core.kinds import kind_info
from park.core.loading import load_documents
from park.core.resources import ParkCluster, ParkJob, ParkQueue

JOB = """
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: hello, labels: {team: vision}}
spec:
  entrypoint: python hello.py
  runtimeEnv: {working_dir: .}
  entrypointResources: {cpu: 0.5, memory: 512Mi}
  retries: 2
"""
CLUSTER = """
apiVersion: park.dev/v1alpha1
kind: ParkCluster
metadata: {name: gpu}
spec:
  head: {resources: {cpu: 2, memory: 4Gi}}
  workerGroups:
    - {name: a100, replicas: 2, resources: {cpu: 500m, gpu: 1, accelerator: nvidia-a100}}
"""


def load_one(text: str) -> object:
    return load_documents(text, source="job.yaml")[0]


def test_a_multi_document_file_loads_every_kind_with_defaults() -> None:
    job, cluster = load_documents(JOB + "---" + CLUSTER, source="all.yaml")
    assert isinstance(job, ParkJob) and isinstance(cluster, ParkCluster)
    assert job.metadata.namespace == "default"
    assert (job.spec.queue, job.spec.cluster, job.spec.retries) == ("default", "default", 2)
    assert job.spec.runtime_env == {"working_dir": "."}
    total = cluster.spec.total_resources()
    assert (total.cpu_cores(), total.gpu, total.memory_bytes()) == (3.0, 2, 4 * 2**30)


def test_yaml_round_trips_in_camel_case() -> None:
    job = load_one(JOB)
    assert isinstance(job, ParkJob)
    data = job.to_dict()
    assert data["spec"]["entrypointResources"] == {"cpu": 0.5, "memory": "512Mi", "custom": {}}
    assert ParkJob.model_validate(data) == job


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: [", "job.yaml: malformed YAML at line 1"),
        ("", "job.yaml: no documents found"),
        (
            JOB.replace("retries: 2", "retries: 2\n  retires: 3"),
            "document 1 (ParkJob hello): spec.retires: unknown field",
        ),
        (JOB.replace("name: hello", "name: Hello_World"), "metadata.name: 'Hello_World' is not a DNS label"),
        (JOB.replace("kind: ParkJob", "kind: ParkJobs"), "kind: unknown kind 'ParkJobs'"),
        (JOB.replace("park.dev/v1alpha1", "park.dev/v1"), "apiVersion: must be 'park.dev/v1alpha1'"),
        (
            JOB.replace("retries: 2", "retries: -1"),
            "spec.retries: Input should be greater than or equal to 0",
        ),
        (
            JOB.replace("memory: 512Mi", "memory: lots"),
            "spec.entrypointResources.memory: 'lots' is not a quantity",
        ),
        (
            JOB.replace("  entrypoint: python hello.py\n", ""),
            "spec: give exactly one of entrypoint (a command) or workload",
        ),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_bad_input_gets_one_line_that_names_file_document_and_field(text: str, message: str) -> None:
    with pytest.raises(InvalidError) as caught:
        load_documents(text, source="job.yaml")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_second_bad_document_is_named() -> None:
    with pytest.raises(InvalidError, match=r"document 2 \(ParkCluster gpu\): spec.head.resources.gpu"):
        load_documents(JOB + "---" + CLUSTER.replace("cpu: 2,", "cpu: 2, gpu: -1,"), source="x.yaml")


def test_cluster_scoped_queues_refuse_a_namespace() -> None:
    text = "apiVersion: park.dev/v1alpha1\nkind: ParkQueue\nmetadata: {name: q, namespace: a}\nspec: {}\n"
    with pytest.raises(InvalidError, match="cluster-scoped"):
        load_documents(text, source="q.yaml")
    queue = load_documents(text.replace(", namespace: a", ""), source="q.yaml")[0]
    assert isinstance(queue, ParkQueue) and queue.metadata.namespace is None


def test_worker_group_names_must_be_unique() -> None:
    text = CLUSTER + "    - {name: a100, replicas: 1}\n"
    with pytest.raises(InvalidError, match="worker group names must be unique: a100"):
        load_documents(text, source="c.yaml")


@pytest.mark.parametrize("spelling", ["jobs", "job", "pj", "ParkJob", "parkjobs"])
def test_kinds_answer_to_every_spelling(spelling: str) -> None:
    assert kind_info(spelling).kind == "ParkJob"


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(InvalidError, match="known kinds: clusters, jobs, services, queues, priorityclasses"):
        kind_info("pods")


def test_every_example_parses() -> None:
    examples = Path(__file__).resolve().parents[3] / "examples"
    files = sorted(examples.rglob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        assert load_documents(path.read_text(), source=str(path)), path
