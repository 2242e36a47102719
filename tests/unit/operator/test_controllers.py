"""The operator's controllers share one informer and one KubeRay cache: reads come from memory, changes of
a Park object queue that object, changes of a KubeRay child queue its owner, and nothing lists again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from typer.testing import CliRunner

from park.cli.main import app
from park.control.controllers.cached_store import CachedStore
from park.control.controllers.clusters import ClusterReconciler
from park.control.controllers.informer import SharedInformer
from park.control.controllers.runner import Controller
from park.control.controllers.scheduling import WATCHED
from park.core.clock import FakeClock
from park.core.errors import InvalidError, NotFoundError
from park.core.meta import ObjectMeta
from park.core.resources import ParkCluster, ParkJob, ParkJobSpec, ParkQueue, PodTemplate, ResourceKey
from park.operator.controllers import operator_controllers
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_cache import CachedKubeRayObjects, KubeRayCache
from park.substrates.kuberay_clusters import KubeRayClusters
from tests.fakes import FakeKubeRay
from tests.unit.control.test_informer import CountingStore
from tests.unit.control.test_invalid_objects import corrupt


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    store = CountingStore(tmp_path / "park.db", clock=FakeClock())
    yield store
    store.close()


def job(name: str) -> ParkJob:
    return ParkJob(metadata=ObjectMeta(name=name, namespace="ns"), spec=ParkJobSpec(entrypoint="true"))


class Seen:
    """A reconciler that records the keys it is handed and reads each object through its store."""

    def __init__(self, kind: str, store: CachedStore) -> None:
        self.kind = kind
        self.keys: list[ResourceKey] = []
        self._store = store

    async def reconcile(self, key: ResourceKey) -> float | None:
        self.keys.append(key)
        self._store.get(key.kind, key.namespace, key.name)
        return None


async def settle(condition: Any, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def test_controllers_share_one_list_and_one_watch_and_read_from_memory(store: CountingStore) -> None:
    store.create(job("a"))
    store.create(ParkCluster(metadata=ObjectMeta(name="c", namespace="ns")))

    async def scenario() -> None:
        informer = SharedInformer(store, WATCHED)
        cached = CachedStore(store, informer.cache)
        jobs, clusters = Seen("ParkJob", cached), Seen("ParkCluster", cached)
        controllers = [Controller(store=cached, reconciler=r, informer=informer) for r in (jobs, clusters)]
        tasks = [asyncio.create_task(informer.run())] + [asyncio.create_task(c.run()) for c in controllers]
        await settle(lambda: jobs.keys and clusters.keys)
        store.create(job("b"))
        await settle(lambda: ResourceKey("ParkJob", "ns", "b") in jobs.keys)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert {key.kind for key in jobs.keys} == {"ParkJob"}
        assert {key.kind for key in clusters.keys} == {"ParkCluster"}
        assert store.lists == len(WATCHED), "one list per kind for every controller together"
        assert store.gets == 0, "reconcilers read the informer's cache"

    asyncio.run(scenario())


def test_the_cached_store_remembers_its_writes_and_a_listed_miss_is_not_found(store: CountingStore) -> None:
    informer = SharedInformer(store, WATCHED)
    cached = CachedStore(store, informer.cache)
    store.create(ParkQueue(metadata=ObjectMeta(name="q")))
    assert cached.get("ParkQueue", None, "q").metadata.name == "q" and store.gets == 1, "not listed yet"
    informer.cache.sync()
    created = cached.create(job("a"))
    assert cached.get("ParkJob", "ns", "a") == created and store.gets == 1
    written = cached.update_status(
        created.model_copy(update={"status": created.status.model_copy(update={"attempt": 3})})
    )
    assert cached.get("ParkJob", "ns", "a") == written, "never older than this process's own write"
    assert [obj.metadata.name for obj in cached.list("ParkJob", namespace="ns").items] == ["a"]
    assert cached.list("ParkJob", namespace="other").items == []
    with pytest.raises(NotFoundError):
        cached.get("ParkCluster", "ns", "default")  # a job's template that does not exist: no request
    assert store.gets == 1


def test_an_object_park_cannot_read_is_read_from_the_store_to_name_the_problem(
    store: CountingStore, tmp_path: Path
) -> None:
    store.create(job("bad"))
    corrupt(tmp_path / "park.db", "bad", lambda data: data["spec"].pop("entrypoint"))
    informer = SharedInformer(store, WATCHED)
    informer.cache.sync()
    with pytest.raises(InvalidError, match="entrypoint"):
        CachedStore(store, informer.cache).get("ParkJob", "ns", "bad")


def test_an_unreadable_cluster_is_left_alone_until_it_changes() -> None:
    class Unreadable:
        def get(self, kind: str, namespace: str | None, name: str) -> Any:
            raise InvalidError("ParkCluster ns/bad cannot be read: spec.head.resources.cpu: -4")

    substrate = KubeRayClusters(
        api_client=k8s.ApiClient(), pods=PodTemplate(), ray_version="2.60.0", objects=FakeKubeRay()
    )
    reconciler = ClusterReconciler(
        store=Unreadable(),  # type: ignore[arg-type]
        substrate=substrate,
        clock=FakeClock(),
        check_every=None,
        finalizer=False,
    )
    key = ResourceKey("ParkCluster", "ns", "bad")
    assert asyncio.run(reconciler.reconcile(key)) is None, (
        "retrying cannot help: its next change brings it back"
    )


def rayjob(name: str, owner: str, version: int, **status: str) -> dict[str, Any]:
    return {
        "kind": "RayJob",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": str(version),
            "labels": {
                "app.kubernetes.io/managed-by": "park-operator",
                "park.dev/owner-kind": "ParkJob",
                "park.dev/owner-name": owner,
            },
        },
        "status": status,
    }


def test_a_kuberay_change_queues_its_owner(store: CountingStore) -> None:
    async def scenario() -> None:
        informer = SharedInformer(store, WATCHED)
        kuberay = KubeRayCache(k8s.ApiClient())
        controllers = operator_controllers(
            store=store,
            informer=informer,
            kuberay=kuberay,
            api_client=k8s.ApiClient(),
            settings=OperatorSettings(),
        )
        by_kind = {controller.kind: controller for controller in controllers}
        kuberay._tell("RayJob", rayjob("train-1", "train", 7, jobStatus="RUNNING"))
        foreign = rayjob("x", "y", 8)
        foreign["metadata"]["labels"]["park.dev/owner-kind"] = "ParkService"  # a RayJob no ParkJob owns
        kuberay._tell("RayJob", foreign)
        await asyncio.sleep(0)  # the listener hands over to the loop (it runs in a watch thread)
        assert len(by_kind["ParkJob"].queue) == 1
        assert await by_kind["ParkJob"].queue.get() == ResourceKey("ParkJob", "ns", "train")
        assert len(by_kind["ParkService"].queue) == 0

    asyncio.run(scenario())


def test_the_kuberay_cache_keeps_the_newest_and_forgets_the_deleted() -> None:
    cache = KubeRayCache(k8s.ApiClient(), kinds=("RayJob",))
    cache.remember(rayjob("a", "o", 5, jobStatus="RUNNING"))
    cache.remember(rayjob("a", "o", 4, jobStatus="PENDING"))  # a late, older copy
    assert cache.get("RayJob", "ns", "a")["status"] == {"jobStatus": "RUNNING"}
    cache._deleted[("RayJob", "ns", "a")] = 9
    cache.forget("RayJob", "ns", "a")
    cache.remember(rayjob("a", "o", 6))  # a write that raced with the deletion
    assert cache.get("RayJob", "ns", "a") is None
    cache.remember(rayjob("b", "o", 10))
    cache.remember(rayjob("c", "other", 11))
    assert [
        body["metadata"]["name"] for body in cache.list("RayJob", "ns", {"park.dev/owner-name": "o"})
    ] == ["b"]


def test_cached_objects_answer_from_memory_once_the_kind_is_listed() -> None:
    cache = KubeRayCache(k8s.ApiClient(), kinds=("RayJob",))
    objects = CachedKubeRayObjects(k8s.ApiClient(), cache)  # no API server: a read that is not cached fails
    cache.remember(rayjob("a", "o", 1))
    cache._synced["RayJob"].set()
    assert objects.get("RayJob", "ns", "a") is not None and objects.get("RayJob", "ns", "zz") is None
    assert objects.list("RayJob", "ns", {"park.dev/owner-kind": "ParkJob", "park.dev/owner-name": "o"})
    assert not cache.synced("RayCluster")


def test_park_operator_run_is_a_command() -> None:
    result = CliRunner().invoke(app, ["operator", "run", "--help"])
    assert result.exit_code == 0
    assert "--kubeconfig" in result.output and "--peering" not in result.output
