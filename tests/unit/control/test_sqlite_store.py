"""The embedded store behaves like the Kubernetes API server: versions, conflicts, finalizers, watches."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import aclosing
from pathlib import Path
from typing import Any, TypeVar

import pytest

from park.control.store.interface import WatchEvent
from park.control.store.selectors import parse_selector
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.errors import AlreadyExistsError, ConflictError, InvalidError, NotFoundError, ParkError
from park.core.meta import ObjectMeta
from park.core.resources import AnyResource, ParkJob, ParkJobSpec, ParkJobStatus, ParkQueue

FINALIZER = "park.dev/cleanup"
T = TypeVar("T")


def make_job(
    name: str = "hello",
    namespace: str | None = "default",
    *,
    labels: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
    **spec: Any,
) -> ParkJob:
    meta = ObjectMeta(name=name, namespace=namespace, labels=labels or {}, finalizers=finalizers or [])
    return ParkJob(metadata=meta, spec=ParkJobSpec(entrypoint="python train.py", **spec))


def make_queue(name: str = "gpu") -> ParkQueue:
    return ParkQueue(metadata=ObjectMeta(name=name))


def rv(obj: AnyResource) -> int:
    assert obj.metadata.resource_version is not None
    return int(obj.metadata.resource_version)


# ---------------------------------------------------------------- create, get, list


def test_create_sets_identity_and_resets_status(store: SQLiteStore, clock: FakeClock) -> None:
    given = make_job()
    given.status = ParkJobStatus(phase="Running", attempt=3)
    given.metadata.generation = 7

    created = store.create(given)

    assert created.metadata.uid
    assert created.metadata.creation_timestamp == clock.now()
    assert created.metadata.generation == 1
    assert rv(created) == store.current_resource_version() == 1
    assert created.status == ParkJobStatus()
    assert store.get("ParkJob", "default", "hello") == created


def test_uids_are_unique_and_resource_version_is_global(store: SQLiteStore) -> None:
    first = store.create(make_job("a"))
    second = store.create(make_job("b"))
    queue = store.create(make_queue())
    assert [rv(first), rv(second), rv(queue)] == [1, 2, 3]
    assert first.metadata.uid != second.metadata.uid


def test_create_twice_is_already_exists(store: SQLiteStore) -> None:
    store.create(make_job())
    with pytest.raises(AlreadyExistsError, match=r"^ParkJob default/hello already exists$"):
        store.create(make_job())
    assert store.current_resource_version() == 1


def test_same_name_in_another_namespace_is_another_object(store: SQLiteStore) -> None:
    store.create(make_job(namespace="a"))
    store.create(make_job(namespace="b"))
    assert store.get("ParkJob", "b", "hello").metadata.namespace == "b"


def test_namespaced_kind_needs_a_namespace(store: SQLiteStore) -> None:
    with pytest.raises(InvalidError, match="namespace is required"):
        store.create(make_job(namespace=None))
    with pytest.raises(InvalidError, match="give a namespace"):
        store.get("ParkJob", None, "hello")


def test_cluster_scoped_kind_has_no_namespace(store: SQLiteStore) -> None:
    queue = make_queue()
    queue.metadata.namespace = "default"
    with pytest.raises(InvalidError, match="cluster-scoped"):
        store.create(queue)
    store.create(make_queue())
    assert store.get("ParkQueue", None, "gpu").metadata.namespace is None
    assert store.get("ParkQueue", "ignored", "gpu").metadata.name == "gpu"  # as kubectl does


def test_get_missing_is_not_found(store: SQLiteStore) -> None:
    with pytest.raises(NotFoundError, match=r"^ParkJob default/nope not found$"):
        store.get("ParkJob", "default", "nope")
    with pytest.raises(NotFoundError, match=r"^ParkQueue nope not found$"):
        store.get("ParkQueue", None, "nope")


def test_unknown_kind_is_invalid(store: SQLiteStore) -> None:
    with pytest.raises(InvalidError, match="unknown kind"):
        store.get("Pod", "default", "x")


def test_list_by_namespace_sorted_with_resource_version(store: SQLiteStore) -> None:
    for namespace, name in (("b", "x"), ("a", "z"), ("a", "y")):
        store.create(make_job(name, namespace))
    store.create(make_queue())

    everything = store.list("ParkJob")
    in_a = store.list("jobs", namespace="a")  # any spelling of the kind

    assert [(o.metadata.namespace, o.metadata.name) for o in everything.items] == [
        ("a", "y"),
        ("a", "z"),
        ("b", "x"),
    ]
    assert [o.metadata.name for o in in_a.items] == ["y", "z"]
    assert everything.resource_version == in_a.resource_version == 4
    assert store.list("ParkJob", namespace="empty").items == []


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["api", "front"]),
        ("app==web", ["api", "front"]),
        ("app!=web", ["batch", "db", "plain"]),
        ("tier in (db,cache)", ["api", "db"]),
        ("tier notin (db)", ["api", "batch", "front", "plain"]),
        ("!tier", ["batch", "plain"]),
        ("tier", ["api", "db", "front"]),
        ("app=web,tier=frontend", ["front"]),
        ("app=web,!tier", []),
        ("", ["api", "batch", "db", "front", "plain"]),
    ],
)
def test_list_with_label_selector(store: SQLiteStore, selector: str, expected: list[str]) -> None:
    for name, labels in {
        "front": {"app": "web", "tier": "frontend"},
        "api": {"app": "web", "tier": "cache"},
        "db": {"app": "pg", "tier": "db"},
        "batch": {"app": "etl"},
        "plain": {},
    }.items():
        store.create(make_job(name, labels=labels))
    result = store.list("ParkJob", namespace="default", selector=parse_selector(selector))
    assert [o.metadata.name for o in result.items] == expected


# ---------------------------------------------------------------- update, update_status


def test_stale_resource_version_is_a_conflict(store: SQLiteStore) -> None:
    created = store.create(make_job())
    store.update(created.model_copy(update={"spec": created.spec.model_copy(update={"priority": 1})}))

    stale = created.model_copy(update={"spec": created.spec.model_copy(update={"priority": 2})})
    with pytest.raises(ConflictError, match=r"resourceVersion 2, you sent 1\); get it again and retry"):
        store.update(stale)
    with pytest.raises(ConflictError, match="ParkJob default/hello has been modified"):
        store.update_status(stale)
    assert store.get("ParkJob", "default", "hello").spec.priority == 1


def test_update_without_resource_version_is_unconditional(store: SQLiteStore) -> None:
    store.create(make_job())
    blind = make_job(priority=5)  # resource_version None: last write wins
    assert store.update(blind).spec.priority == 5


def test_generation_moves_only_when_spec_changes(store: SQLiteStore) -> None:
    created = store.create(make_job())

    relabelled = created.model_copy(deep=True)
    relabelled.metadata.labels = {"team": "a"}
    relabelled.metadata.annotations = {"note": "x"}
    after_labels = store.update(relabelled)

    respecced = after_labels.model_copy(deep=True)
    respecced.spec.retries = 2
    after_spec = store.update(respecced)

    assert (after_labels.metadata.generation, rv(after_labels)) == (1, 2)
    assert after_labels.metadata.labels == {"team": "a"}
    assert (after_spec.metadata.generation, rv(after_spec)) == (2, 3)
    assert store.get("ParkJob", "default", "hello") == after_spec


def test_update_that_changes_nothing_writes_nothing(store: SQLiteStore) -> None:
    created = store.create(make_job())
    same = store.update(created)
    assert same == created
    assert store.current_resource_version() == 1
    assert store.changes_since(1) == []


def test_update_never_touches_status_or_identity(store: SQLiteStore) -> None:
    created = store.create(make_job())
    store.update_status(created.model_copy(update={"status": ParkJobStatus(phase="Running")}))

    sneaky = store.get("ParkJob", "default", "hello")
    sneaky.status = ParkJobStatus(phase="Succeeded")
    sneaky.metadata.uid = "forged"
    sneaky.spec.priority = 9
    result = store.update(sneaky)

    assert result.status.phase == "Running"
    assert result.metadata.uid == created.metadata.uid
    assert result.spec.priority == 9


def test_update_status_never_touches_spec_or_metadata(store: SQLiteStore) -> None:
    created = store.create(make_job())
    given = created.model_copy(deep=True)
    given.spec.priority = 9
    given.metadata.labels = {"x": "y"}
    given.status = ParkJobStatus(phase="Running", observed_generation=1)

    result = store.update_status(given)

    assert result.status.phase == "Running"
    assert result.spec.priority == 0
    assert result.metadata.labels == {}
    assert (result.metadata.generation, rv(result)) == (1, 2)
    assert store.update_status(result) == result  # no change: no new version
    assert store.current_resource_version() == 2


def test_update_of_missing_object_is_not_found(store: SQLiteStore) -> None:
    with pytest.raises(NotFoundError):
        store.update(make_job())
    with pytest.raises(NotFoundError):
        store.update_status(make_job())


def test_invalid_spec_is_never_stored(store: SQLiteStore) -> None:
    created = store.create(make_job())
    created.spec.retries = -1  # assignment is not validated; the store validates again
    with pytest.raises(InvalidError, match=r"^ParkJob default/hello: spec.retries: "):
        store.update(created)
    assert store.get("ParkJob", "default", "hello").spec.retries == 0


# ---------------------------------------------------------------- delete and finalizers


def test_delete_without_finalizers_removes_the_object(store: SQLiteStore) -> None:
    created = store.create(make_job())
    deleted = store.delete("ParkJob", "default", "hello")

    assert rv(deleted) == 2
    assert deleted.metadata.uid == created.metadata.uid
    with pytest.raises(NotFoundError):
        store.get("ParkJob", "default", "hello")
    [change] = store.changes_since(1)
    assert (change.type, change.resource_version, change.object) == ("DELETED", 2, deleted)
    with pytest.raises(NotFoundError):
        store.delete("ParkJob", "default", "hello")


def test_delete_with_stale_precondition_is_a_conflict(store: SQLiteStore) -> None:
    created = store.create(make_job())
    store.update(created.model_copy(update={"spec": created.spec.model_copy(update={"priority": 1})}))
    with pytest.raises(ConflictError):
        store.delete("ParkJob", "default", "hello", resource_version="1")
    assert store.delete("ParkJob", "default", "hello", resource_version="2").metadata.name == "hello"


def test_finalizers_hold_deletion_until_removed(store: SQLiteStore, clock: FakeClock) -> None:
    store.create(make_job(finalizers=[FINALIZER, "other"]))
    clock.advance(5)

    marked = store.delete("ParkJob", "default", "hello")
    assert marked.metadata.deletion_timestamp == clock.now()
    assert store.get("ParkJob", "default", "hello") == marked
    assert store.delete("ParkJob", "default", "hello") == marked  # idempotent, no new version
    assert store.current_resource_version() == rv(marked) == 2

    with pytest.raises(InvalidError, match="finalizers can only be removed"):
        store.update(
            marked.model_copy(
                update={
                    "metadata": marked.metadata.model_copy(update={"finalizers": [FINALIZER, "other", "new"]})
                }
            )
        )

    one_left = marked.model_copy(deep=True)
    one_left.metadata.finalizers = ["other"]
    still_there = store.update(one_left)
    assert still_there.metadata.deletion_timestamp == marked.metadata.deletion_timestamp

    still_there.metadata.finalizers = []
    gone = store.update(still_there)

    with pytest.raises(NotFoundError):
        store.get("ParkJob", "default", "hello")
    types = [(c.type, c.resource_version) for c in store.changes_since(0)]
    assert types == [("ADDED", 1), ("MODIFIED", 2), ("MODIFIED", 3), ("DELETED", 4)]
    assert rv(gone) == 4


def test_status_can_be_written_while_finalizers_run(store: SQLiteStore) -> None:
    store.create(make_job(finalizers=[FINALIZER]))
    marked = store.delete("ParkJob", "default", "hello")
    marked.status = ParkJobStatus(phase="Stopped")
    assert store.update_status(marked).metadata.deletion_timestamp is not None


# ---------------------------------------------------------------- change log


def test_changes_since_is_oldest_first_and_filters_kinds(store: SQLiteStore) -> None:
    job = store.create(make_job())
    store.create(make_queue())
    store.update_status(job.model_copy(update={"status": ParkJobStatus(phase="Running")}))
    store.delete("ParkQueue", None, "gpu")

    every = store.changes_since(0)
    queues = store.changes_since(0, kinds=frozenset({"ParkQueue"}))

    assert [(c.type, c.object.kind) for c in every] == [
        ("ADDED", "ParkJob"),
        ("ADDED", "ParkQueue"),
        ("MODIFIED", "ParkJob"),
        ("DELETED", "ParkQueue"),
    ]
    assert [c.resource_version for c in every] == [1, 2, 3, 4]
    assert [c.resource_version for c in queues] == [2, 4]
    assert [c.resource_version for c in store.changes_since(1, limit=2)] == [2, 3]
    assert store.changes_since(4) == []
    assert store.changes_since(0, kinds=frozenset()) == []
    assert every[2].object.status.phase == "Running"  # each change carries the object as it was then


def test_compacted_history_is_gone(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "park.db", history_limit=5)
    created = store.create(make_job())
    for priority in range(1, 10):
        created.spec.priority = priority
        created = store.update(created)

    assert store.current_resource_version() == 10
    assert [c.resource_version for c in store.changes_since(5)] == [6, 7, 8, 9, 10]
    with pytest.raises(ParkError, match=r"before resourceVersion 6 was compacted; list again") as info:
        store.changes_since(4)
    assert info.value.reason == "Expired"
    assert store.changes_since(10) == []
    store.close()


def test_history_limit_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(InvalidError):
        SQLiteStore(tmp_path / "park.db", history_limit=0)


# ---------------------------------------------------------------- subscribe


def test_subscribers_hear_each_commit_outside_the_lock(store: SQLiteStore) -> None:
    heard: list[tuple[int, bool]] = []

    def callback(version: int) -> None:
        # A reader on another thread must get in: the writer no longer holds the lock.
        reader = threading.Thread(target=store.current_resource_version)
        reader.start()
        reader.join(timeout=5)
        heard.append((version, not reader.is_alive()))

    unsubscribe = store.subscribe(callback)
    store.create(make_job("a"))
    store.create(make_job("b"))
    unsubscribe()
    store.create(make_job("c"))
    unsubscribe()  # twice is harmless

    assert heard == [(1, True), (2, True)]


def test_a_failing_subscriber_does_not_fail_the_write(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(version: int) -> None:
        raise RuntimeError("boom")

    heard: list[int] = []
    store.subscribe(broken)
    store.subscribe(heard.append)
    assert rv(store.create(make_job())) == 1
    assert heard == [1]
    assert "store subscriber" in caplog.text


# ---------------------------------------------------------------- persistence and the file


def test_data_and_versions_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "park.db"
    first = SQLiteStore(path, clock=clock)
    job = first.create(make_job(labels={"app": "web"}))
    first.update_status(job.model_copy(update={"status": ParkJobStatus(phase="Running")}))
    first.record_event(job, type="Normal", reason="Submitted", message="attempt 1")
    before = first.get("ParkJob", "default", "hello")
    first.close()

    second = SQLiteStore(path, clock=clock)
    assert second.get("ParkJob", "default", "hello") == before
    assert second.current_resource_version() == 2
    assert rv(second.create(make_queue())) == 3
    assert [c.resource_version for c in second.changes_since(0)] == [1, 2, 3]
    assert [e.reason for e in second.list_events(name="hello")] == ["Submitted"]
    second.close()


def test_file_is_wal_with_a_schema_version(store: SQLiteStore, tmp_path: Path) -> None:
    store.create(make_job())
    raw = sqlite3.connect(tmp_path / "park.db")
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        raw.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "park.db"
    SQLiteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(ParkError, match="schema version 99, newer than this Park"):
        SQLiteStore(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "park.db"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(ParkError, match="not a Park state database"):
        SQLiteStore(path)


def test_in_memory_store_works() -> None:
    store = SQLiteStore(":memory:")
    store.create(make_job())
    assert len(store.list("ParkJob").items) == 1
    store.close()


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "park.db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(ParkError, match="is closed"):
        store.get("ParkJob", "default", "hello")


# ---------------------------------------------------------------- threads


def test_concurrent_writers_lose_no_update(store: SQLiteStore) -> None:
    store.create(make_job())
    conflicts: list[int] = []

    def bump(times: int) -> None:
        done = 0
        while done < times:
            current = store.get("ParkJob", "default", "hello")
            current.spec.priority += 1
            try:
                store.update(current)
            except ConflictError:
                conflicts.append(1)
                continue
            done += 1

    threads = [threading.Thread(target=bump, args=(100,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    final = store.get("ParkJob", "default", "hello")
    assert final.spec.priority == 400
    assert final.metadata.generation == 401
    assert store.current_resource_version() == 401
    assert [c.resource_version for c in store.changes_since(0, limit=1000)] == list(range(1, 402))


# ---------------------------------------------------------------- watch


def run(coro: Coroutine[Any, Any, T]) -> T:
    """pytest-asyncio is not a dependency: each async test body runs in its own loop, with a deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


async def take(stream: AsyncIterator[WatchEvent], count: int) -> list[WatchEvent]:
    seen: list[WatchEvent] = []
    async for event in stream:
        seen.append(event)
        if len(seen) == count:
            break
    return seen


async def settle() -> None:
    """Let the loop run every ready callback and task (writes here happen on the loop's thread)."""
    for _ in range(20):
        await asyncio.sleep(0)


def test_watch_replays_then_follows_writes_from_other_threads(store: SQLiteStore) -> None:
    store.create(make_job("a"))
    store.create(make_job("b"))

    async def main() -> list[WatchEvent]:
        async with aclosing(store.watch(since=0)) as stream:  # type: ignore[type-var]
            replayed = await take(stream, 2)
            await asyncio.to_thread(store.create, make_job("c"))
            store.delete("ParkJob", "default", "a")  # from the loop's own thread too
            return replayed + await take(stream, 2)

    seen = run(main())
    assert [(e.type, e.object.metadata.name, e.resource_version) for e in seen] == [
        ("ADDED", "a", 1),
        ("ADDED", "b", 2),
        ("ADDED", "c", 3),
        ("DELETED", "a", 4),
    ]
    assert store._subscribers == ()  # closing the stream unsubscribed it


def test_watch_from_now_filters_kinds(store: SQLiteStore) -> None:
    store.create(make_queue("old"))

    async def main() -> list[WatchEvent]:
        stream = store.watch(since=store.current_resource_version(), kinds=frozenset({"ParkQueue"}))
        consumer = asyncio.create_task(take(stream, 1))
        await settle()
        store.create(make_job())
        store.create(make_queue("new"))
        return await consumer

    [event] = run(main())
    assert (event.type, event.object.metadata.name, event.resource_version) == ("ADDED", "new", 3)


def test_cancelling_a_watch_unsubscribes(store: SQLiteStore) -> None:
    async def main() -> None:
        consumer = asyncio.create_task(take(store.watch(since=0), 10))
        await settle()
        assert len(store._subscribers) == 1
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer

    run(main())
    assert store._subscribers == ()


def test_closing_the_store_wakes_watchers_with_an_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "park.db")

    async def main() -> None:
        consumer = asyncio.create_task(take(store.watch(since=0), 10))
        await settle()
        await asyncio.to_thread(store.close)
        with pytest.raises(ParkError, match="is closed"):
            await consumer

    run(main())
    assert store._subscribers == ()


def test_watch_from_compacted_history_is_gone(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "park.db", history_limit=2)
    for name in ("a", "b", "c"):
        store.create(make_job(name))
    with pytest.raises(ParkError, match="compacted"):
        run(take(store.watch(since=0), 1))
    store.close()


def test_a_quiet_kind_watcher_is_not_expired_by_other_kinds(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "park.db", history_limit=5)

    async def main() -> list[WatchEvent]:
        consumer = asyncio.create_task(take(store.watch(since=0, kinds=frozenset({"ParkQueue"})), 1))
        job = store.create(make_job())
        for priority in range(12):  # more job changes than the history keeps
            job.spec.priority = priority + 1
            job = store.update(job)
            await settle()
        store.create(make_queue())
        return await consumer

    [event] = run(main())
    assert (event.object.kind, event.resource_version) == ("ParkQueue", 14)
    store.close()


def test_fifty_watchers_each_see_every_change_in_order(store: SQLiteStore) -> None:
    writes = 20

    def writer() -> None:
        job = store.create(make_job())
        for priority in range(1, writes):
            job.spec.priority = priority
            job = store.update(job)

    async def main() -> list[list[WatchEvent]]:
        consumers = [asyncio.create_task(take(store.watch(since=0), writes)) for _ in range(50)]
        await settle()
        await asyncio.to_thread(writer)
        return await asyncio.gather(*consumers)

    for seen in run(main()):
        assert [e.resource_version for e in seen] == list(range(1, writes + 1))
        assert [e.object.spec.priority for e in seen] == list(range(writes))


# ---------------------------------------------------------------- events


def test_repeated_events_are_counted(store: SQLiteStore, clock: FakeClock) -> None:
    job = store.create(make_job())
    first = clock.now()
    store.record_event(job, type="Warning", reason="BackOff", message="restarting")
    clock.advance(30)
    store.record_event(job, type="Warning", reason="BackOff", message="restarting")

    [event] = store.list_events(kind="ParkJob", namespace="default", name="hello")
    assert (event.count, event.first_time, event.last_time) == (2, first, clock.now())
    assert (event.uid, event.type, event.reason) == (job.metadata.uid, "Warning", "BackOff")
    assert store.current_resource_version() == 1  # events are not resource changes


def test_events_differ_by_type_reason_message_and_uid(store: SQLiteStore, clock: FakeClock) -> None:
    job = store.create(make_job())
    store.record_event(job, type="Normal", reason="Submitted", message="attempt 1")
    clock.advance(1)
    store.record_event(job, type="Normal", reason="Submitted", message="attempt 2")
    clock.advance(1)
    store.record_event(job, type="Warning", reason="Submitted", message="attempt 1")
    clock.advance(1)
    store.record_event(job, type="Normal", reason="Submitted", message="attempt 1")  # repeat: moves last
    other_uid = job.model_copy(update={"metadata": job.metadata.model_copy(update={"uid": "other"})})
    store.record_event(other_uid, type="Normal", reason="Submitted", message="attempt 1")

    events = store.list_events(name="hello")
    assert [(e.type, e.message, e.count, e.uid == "other") for e in events] == [
        ("Normal", "attempt 2", 1, False),
        ("Warning", "attempt 1", 1, False),
        ("Normal", "attempt 1", 2, False),
        ("Normal", "attempt 1", 1, True),
    ]


def test_list_events_filters(store: SQLiteStore) -> None:
    a = store.create(make_job("a", "one"))
    b = store.create(make_job("b", "two"))
    queue = store.create(make_queue())
    for obj in (a, b, queue):
        store.record_event(obj, type="Normal", reason="Created", message=obj.metadata.name)

    def names(**filters: str) -> list[str]:
        return [e.name for e in store.list_events(**filters)]

    assert names() == ["a", "b", "gpu"]
    assert names(kind="ParkJob") == ["a", "b"]
    assert names(namespace="two") == ["b"]
    assert names(kind="ParkQueue", name="gpu") == ["gpu"]
    assert store.list_events(kind="ParkQueue")[0].namespace is None
    assert names(name="missing") == []


def test_an_object_keeps_its_newest_200_events(store: SQLiteStore, clock: FakeClock) -> None:
    job = store.create(make_job())
    for number in range(205):
        clock.advance(1)
        store.record_event(job, type="Normal", reason="Tick", message=f"tick {number}")
    other = store.create(make_job("other"))
    store.record_event(other, type="Normal", reason="Tick", message="mine")

    kept = store.list_events(name="hello")
    assert len(kept) == 200
    assert (kept[0].message, kept[-1].message) == ("tick 5", "tick 204")
    assert len(store.list_events(name="other")) == 1


def test_events_go_with_the_object(store: SQLiteStore) -> None:
    job = store.create(make_job(finalizers=[FINALIZER]))
    store.record_event(job, type="Normal", reason="Created", message="hello")
    marked = store.delete("ParkJob", "default", "hello")
    assert len(store.list_events(name="hello")) == 1  # still there while finalizers run

    marked.metadata.finalizers = []
    store.update(marked)
    assert store.list_events(name="hello") == []

    store.record_event(marked, type="Normal", reason="Late", message="after the end")
    store.create(make_job())
    assert store.list_events(name="hello") == []  # a new object with the name starts clean
