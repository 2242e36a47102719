"""Park's CRDs and `KubernetesStore` against the real kube-apiserver: validation, conflicts, the status
subresource, generation, finalizers, watches and events behave as the embedded store's tests promise."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes import client as k8s

from park.control.store.interface import WatchEvent
from park.core.errors import AlreadyExistsError, ConflictError, NotFoundError
from park.core.loading import load_documents
from park.core.resources import ParkJob, ParkQueue
from park.operator.store import KubernetesStore

from .conftest import kubectl

pytestmark = pytest.mark.e2e


def job(namespace: str, name: str = "train") -> ParkJob:
    (parsed,) = load_documents(
        f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: {name}, namespace: {namespace}, labels: {{team: a}}}}
spec:
  entrypoint: python train.py
  priority: 5
  resources: {{replicas: 2, perReplica: {{cpu: 500m, gpu: 1}}}}
""",
        source="test",
    )
    assert isinstance(parsed, ParkJob)
    return parsed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{entrypoint: x, queue: Not_A_Label}", "spec.queue"),
        ("{entrypoint: x, workload: {name: train}}", "give exactly one of entrypoint"),
        ("{entrypoint: x, bogus: 1}", 'unknown field "spec.bogus"'),
        ("{entrypoint: x, retries: 1000}", "spec.retries"),
    ],
)
def test_the_api_server_rejects_what_the_models_reject(
    kubeconfig: Path, namespace: str, spec: str, message: str
) -> None:
    manifest = (
        "apiVersion: park.dev/v1alpha1\nkind: ParkJob\n"
        f"metadata: {{name: bad, namespace: {namespace}}}\nspec: {spec}\n"
    )
    result = kubectl(kubeconfig, "apply", "-f", "-", stdin=manifest, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_crud_conflicts_status_and_generation(api_client: k8s.ApiClient, namespace: str) -> None:
    store = KubernetesStore(api_client)
    created = store.create(job(namespace))
    assert created.metadata.uid and created.metadata.generation == 1
    with pytest.raises(AlreadyExistsError):
        store.create(job(namespace))

    status = created.status.model_copy(update={"phase": "Queued", "message": "waiting"})
    queued = store.update_status(created.model_copy(update={"status": status}))
    assert queued.status.phase == "Queued" and queued.metadata.generation == 1, "status is not spec"
    with pytest.raises(ConflictError):
        store.update_status(created.model_copy(update={"status": status}))  # stale resourceVersion

    labelled = queued.model_copy(
        update={"metadata": queued.metadata.model_copy(update={"labels": {"team": "b"}})}
    )
    relabelled = store.update(labelled)
    assert relabelled.metadata.generation == 1 and relabelled.status.phase == "Queued"
    spec = relabelled.spec.model_copy(update={"priority": 9})
    changed = store.update(relabelled.model_copy(update={"spec": spec}))
    assert changed.metadata.generation == 2 and changed.spec.priority == 9

    listed = store.list("ParkJob", namespace=namespace)
    assert [o.metadata.name for o in listed.items] == ["train"]
    assert listed.resource_version >= int(changed.metadata.resource_version or 0)
    assert isinstance(store.get("ParkJob", namespace, "train"), ParkJob)
    with pytest.raises(NotFoundError):
        store.get("ParkJob", namespace, "nope")


def test_finalizers_hold_deletion_until_removed(api_client: k8s.ApiClient, namespace: str) -> None:
    store = KubernetesStore(api_client)
    created = store.create(job(namespace, "held"))
    held = store.update(
        created.model_copy(
            update={"metadata": created.metadata.model_copy(update={"finalizers": ["park.dev/cleanup"]})}
        )
    )
    marked = store.delete("ParkJob", namespace, "held")
    assert marked.metadata.deletion_timestamp is not None
    released = store.update(
        marked.model_copy(update={"metadata": marked.metadata.model_copy(update={"finalizers": []})})
    )
    assert released.metadata.name == held.metadata.name
    with pytest.raises(NotFoundError):
        store.get("ParkJob", namespace, "held")


def test_cluster_scoped_kinds_and_events(api_client: k8s.ApiClient, namespace: str) -> None:
    store = KubernetesStore(api_client)
    name = f"q-{namespace}"
    (queue,) = load_documents(
        "apiVersion: park.dev/v1alpha1\nkind: ParkQueue\n"
        f"metadata: {{name: {name}}}\nspec: {{nominalQuota: {{cpu: 4}}}}\n",
        source="test",
    )
    created = store.create(queue)
    try:
        assert isinstance(created, ParkQueue) and created.metadata.namespace is None
        for _ in range(3):
            store.record_event(created, type="Normal", reason="Tested", message="three times")
        (event,) = [e for e in store.list_events(kind="ParkQueue", name=name)]
        assert (event.reason, event.count) == ("Tested", 3)
    finally:
        store.delete("ParkQueue", None, name)


def test_watch_replays_and_follows(api_client: k8s.ApiClient, namespace: str) -> None:
    store = KubernetesStore(api_client)
    since = store.current_resource_version()
    first = store.create(job(namespace, "watched"))

    async def collect() -> list[WatchEvent]:
        seen: list[WatchEvent] = []
        async for event in store.watch(since=since, kinds=frozenset({"ParkJob"})):
            if event.object.metadata.namespace != namespace:
                continue
            seen.append(event)
            if len(seen) == 1:
                await asyncio.to_thread(store.delete, "ParkJob", namespace, "watched")
            if event.type == "DELETED":
                return seen
        return seen

    seen = asyncio.run(asyncio.wait_for(collect(), 60))
    assert [e.type for e in seen] == ["ADDED", "DELETED"]
    assert seen[0].object.metadata.uid == first.metadata.uid
