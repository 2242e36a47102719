"""One object Park's model refuses hides only itself: lists, watches, the scheduler and the API go on.

Such an object exists when it was written before a rule existed: by `kubectl apply` before the CRD had
the rule, or by an older Park into the embedded store. Here an older Park's row is imitated by editing
the SQLite file behind the store's back.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from park.api import ApiContext, create_app
from park.client import ParkClient
from park.control.controllers.admission import snapshot_of
from park.control.controllers.informer import InformerCache
from park.control.controllers.scheduling import WATCHED, SchedulerLoop
from park.control.logs import JobLogs, LogArchive
from park.control.scheduler import PolicyConfig
from park.control.store.interface import InvalidObject
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.errors import InvalidError
from park.core.meta import ObjectMeta
from park.core.resources import (
    ComputeResources,
    GangResources,
    ParkJob,
    ParkJobSpec,
    ParkQueue,
    ParkQueueSpec,
    ResourceKey,
)
from park.operator.store import decode
from tests.fakes import NoClusters

PROBLEM = "spec.resources.perReplica.cpu"
POLICY = PolicyConfig(min_runtime_s=0, aging_interval_s=0)


def job(name: str, namespace: str = "default") -> ParkJob:
    return ParkJob(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=ParkJobSpec(
            entrypoint="python train.py",
            resources=GangResources(replicas=1, per_replica=ComputeResources(cpu="1")),
        ),
    )


def corrupt(path: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit a stored job (its row and its watch history) as an older Park could have written it."""
    with closing(sqlite3.connect(path)) as db, db:
        for table in ("objects", "changes"):
            where = "kind = 'ParkJob' AND name = ?"
            for (body,) in db.execute(f"SELECT body FROM {table} WHERE {where}", (name,)).fetchall():  # noqa: S608
                data = json.loads(body)
                change(data)
                edit = f"UPDATE {table} SET body = ? WHERE {where} AND body = ?"  # noqa: S608
                db.execute(edit, (json.dumps(data), name, body))


def negative_cpu(data: dict[str, Any]) -> None:
    data["spec"]["resources"]["perReplica"]["cpu"] = -4


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "park.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    """A queue for four CPUs, jobs in two namespaces, and `team-b/bad` asking for -4 CPUs."""
    store = SQLiteStore(path, clock=FakeClock())
    store.create(
        ParkQueue(
            metadata=ObjectMeta(name="default"), spec=ParkQueueSpec(nominal_quota=ComputeResources(cpu="4"))
        )
    )
    for obj in (job("a", "team-a"), job("bad", "team-b"), job("c", "team-b")):
        store.create(obj)
    corrupt(path, "bad", negative_cpu)
    yield store
    store.close()


def admitted(store: SQLiteStore) -> list[str]:
    return sorted(
        j.metadata.name
        for j in store.list("ParkJob").items
        if isinstance(j, ParkJob) and j.status.admission and j.status.admission.admitted
    )


def test_a_list_shows_the_others_and_reports_the_one_it_cannot_read(store: SQLiteStore) -> None:
    listed = store.list("ParkJob")
    assert [j.metadata.name for j in listed.items] == ["a", "c"]
    (bad,) = listed.invalid
    assert (bad.kind, bad.namespace, bad.name) == ("ParkJob", "team-b", "bad")
    assert PROBLEM in bad.problem and "-4" in bad.problem
    assert [j.metadata.name for j in store.list("ParkJob", namespace="team-a").items] == ["a"]
    assert store.list("ParkJob", namespace="team-a").invalid == []


def test_getting_it_names_the_object_the_field_and_what_to_do(store: SQLiteStore) -> None:
    with pytest.raises(InvalidError, match=rf"ParkJob team-b/bad .*{PROBLEM}.*delete"):
        store.get("ParkJob", "team-b", "bad")


def test_a_watch_skips_it_and_goes_on(store: SQLiteStore) -> None:
    assert [c.object.metadata.name for c in store.changes_since(0, kinds=frozenset({"ParkJob"}))] == [
        "a",
        "c",
    ]

    async def follow() -> list[str]:
        seen: list[str] = []
        async for change in store.watch(since=0, kinds=frozenset({"ParkJob"})):
            seen.append(change.object.metadata.name)
            if len(seen) == 3:
                return seen
        raise AssertionError("the watch ended")  # pragma: no cover

    async def scenario() -> list[str]:
        task = asyncio.create_task(follow())
        await asyncio.sleep(0.05)
        store.create(job("d", "team-a"))
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(scenario()) == ["a", "c", "d"]


def test_it_can_still_be_deleted(store: SQLiteStore) -> None:
    store.delete("ParkJob", "team-b", "bad")
    assert store.list("ParkJob").invalid == []


def test_a_cycle_admits_the_others_and_warns_about_it(store: SQLiteStore) -> None:
    SchedulerLoop(store=store, clock=FakeClock(), config=POLICY).cycle_once()
    assert admitted(store) == ["a", "c"]
    (warning,) = [e for e in store.list_events(kind="ParkJob", name="bad") if e.type == "Warning"]
    assert warning.reason == "Invalid" and PROBLEM in warning.message


def test_the_running_loop_keeps_scheduling_around_it(store: SQLiteStore) -> None:
    """The loop lists (as at start-up and after every break in the watch), then follows new jobs."""

    async def scenario() -> None:
        loop = SchedulerLoop(store=store, clock=FakeClock(), config=POLICY, interval=0.05, debounce=0.01)
        task = asyncio.create_task(loop.run())
        for _ in range(100):
            if admitted(store) == ["a", "c"]:
                break
            await asyncio.sleep(0.05)
        store.create(job("d", "team-a"))
        for _ in range(100):
            if admitted(store) == ["a", "c", "d"]:
                break
            await asyncio.sleep(0.05)
        assert not task.done(), "the loop is still running"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert admitted(store) == ["a", "c", "d"]
    assert [e.reason for e in store.list_events(kind="ParkJob", name="bad")] == ["Invalid"]


def test_the_informer_cache_reports_what_its_list_could_not_read(store: SQLiteStore) -> None:
    cache = InformerCache(store, WATCHED)
    cache.sync()
    assert sorted(j.metadata.name for j in cache.list("ParkJob")) == ["a", "c"]
    assert [(i.namespace, i.name) for i in cache.invalid()] == [("team-b", "bad")]


@pytest.fixture
def api(store: SQLiteStore, tmp_path: Path) -> Iterator[TestClient]:
    logs = JobLogs(store=store, substrate=NoClusters(), archive=LogArchive(tmp_path / "logs"))
    app = create_app(ApiContext(store=store, logs=logs, token="t", ready=lambda: True))
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        yield client


def test_the_api_lists_the_others_and_names_it_in_a_warning_header(api: TestClient) -> None:
    response = api.get("/v1/jobs")
    assert response.status_code == 200
    assert [i["metadata"]["name"] for i in response.json()["items"]] == ["a", "c"]
    (warning,) = response.headers.get_list("warning")
    assert warning.startswith('299 - "ParkJob team-b/bad cannot be read') and PROBLEM in warning


def test_park_get_jobs_all_namespaces_shows_the_others_and_warns_then_delete_removes_it(
    api: TestClient,
) -> None:
    """What `park get jobs -A` and `park delete job bad -n team-b` do, through the client."""

    def forward(request: httpx.Request) -> httpx.Response:
        answer = api.request(
            request.method, request.url.raw_path.decode(), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    warnings: list[str] = []
    client = ParkClient(
        "http://park", "t", on_warning=warnings.append, transport=httpx.MockTransport(forward)
    )
    assert [j.metadata.name for j in client.list_objects("jobs")] == ["a", "c"]
    (warning,) = warnings
    assert warning.startswith("ParkJob team-b/bad cannot be read: ") and PROBLEM in warning
    assert warning.endswith("(fix it or delete it)")
    assert client.delete("ParkJob", "team-b", "bad") is None
    assert [j.metadata.name for j in client.list_objects("jobs")] == ["a", "c"]
    assert len(warnings) == 1


def test_the_kubernetes_store_decodes_custom_objects_one_by_one() -> None:
    body = {
        **job("bad", "team-b").to_dict(),
        "metadata": {"name": "bad", "namespace": "team-b", "uid": "u-1", "managedFields": [{}]},
    }
    assert isinstance(decode("ParkJob", body), ParkJob)
    negative_cpu(body)
    invalid = decode("ParkJob", body)
    assert isinstance(invalid, InvalidObject)
    assert (invalid.key, invalid.uid) == (ResourceKey("ParkJob", "team-b", "bad"), "u-1")
    assert PROBLEM in invalid.problem


def test_a_workload_the_engine_refuses_is_left_out_and_the_others_are_kept() -> None:
    """A value no model rule caught (here forced past validation) costs only its own object."""
    good, bad = job("a"), job("bad")
    assert bad.spec.resources is not None
    resources = bad.spec.resources.model_copy(
        update={"per_replica": ComputeResources.model_construct(cpu="1", custom={"tpu": -1.0})}
    )
    bad = bad.model_copy(update={"spec": bad.spec.model_copy(update={"resources": resources})})
    refused: list[tuple[str, str]] = []
    snapshot = snapshot_of(
        [], [good, bad], [], 0.0, refused=lambda obj, why: refused.append((obj.metadata.name, why))
    )
    assert [w.id for w in snapshot.workloads] == ["default/a"]
    [(name, why)] = refused
    assert name == "bad" and "-1.0 is not a quantity" in why
