"""The scheduler's informer cache, and the loop that reads it instead of listing every cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from park.control.controllers.informer import InformerCache
from park.control.controllers.scheduling import WATCHED, SchedulerLoop
from park.control.scheduler import PolicyConfig
from park.control.store.interface import ListResult, WatchEvent
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.errors import GoneError
from park.core.meta import ObjectMeta
from park.core.resources import AnyResource, ComputeResources, ParkJob, ParkJobSpec, ParkQueue, ParkQueueSpec

KINDS = frozenset({"ParkJob", "ParkQueue"})


class CountingStore(SQLiteStore):
    """Counts the reads that reach the store (an informer's should be one list per kind, then none)."""

    lists = 0
    gets = 0

    def list(self, kind: str, **selectors: object) -> ListResult:  # type: ignore[override]
        self.lists += 1
        return super().list(kind, **selectors)  # type: ignore[arg-type]

    def get(self, kind: str, namespace: str | None, name: str) -> AnyResource:
        self.gets += 1
        return super().get(kind, namespace, name)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    store = CountingStore(tmp_path / "park.db", clock=FakeClock())
    yield store
    store.close()


def job(name: str) -> ParkJob:
    return ParkJob(metadata=ObjectMeta(name=name, namespace="default"), spec=ParkJobSpec(entrypoint="true"))


def names(cache: InformerCache) -> list[str]:
    return sorted(obj.metadata.name for obj in cache.list("ParkJob"))


def test_a_list_then_newer_events_only(store: CountingStore) -> None:
    first = store.create(job("a"))
    cache = InformerCache(store, KINDS)
    since = cache.sync()
    assert names(cache) == ["a"] and since == int(first.metadata.resource_version or 0)
    cache.apply(WatchEvent("ADDED", since, first))  # what the list already showed: ignored
    second = store.create(job("b"))
    cache.apply(WatchEvent("ADDED", int(second.metadata.resource_version or 0), second))
    assert names(cache) == ["a", "b"]
    newer = store.update_status(
        first.model_copy(update={"status": first.status.model_copy(update={"attempt": 2})})
    )
    cache.remember(newer)  # the owner's own write, before the watch says so
    late = WatchEvent("MODIFIED", int(second.metadata.resource_version or 0), first)
    cache.apply(late)  # the watch catching up with an older version never replaces a newer one
    (a,) = [obj for obj in cache.list("ParkJob") if obj.metadata.name == "a"]
    assert isinstance(a, ParkJob) and a.status.attempt == 2


def test_a_deletion_is_not_undone_by_a_write_from_before_it(store: CountingStore) -> None:
    written = store.create(job("a"))
    cache = InformerCache(store, KINDS)
    cache.sync()
    gone = store.delete("ParkJob", "default", "a")
    cache.apply(WatchEvent("DELETED", store.current_resource_version(), gone))
    cache.remember(written)  # a write that raced with the deletion
    assert names(cache) == []
    again = store.create(job("a"))  # the same name again: a new object
    cache.apply(WatchEvent("ADDED", int(again.metadata.resource_version or 0), again))
    assert names(cache) == ["a"]


def test_the_running_loop_lists_once_and_follows_the_watch(store: CountingStore) -> None:
    """Twelve jobs arrive one by one into a quota of ten: cycles read memory, and nothing is over-admitted
    although the loop's own writes reach it before the watch does."""
    store.create(
        ParkQueue(
            metadata=ObjectMeta(name="default"), spec=ParkQueueSpec(nominal_quota=ComputeResources(cpu="10"))
        )
    )
    loop = SchedulerLoop(
        store=store,
        clock=FakeClock(),
        config=PolicyConfig(min_runtime_s=0, aging_interval_s=0),
        interval=0.05,
    )

    def admitted() -> list[str]:
        listing = SQLiteStore.list(store, "ParkJob")  # not counted: only the loop's lists are
        jobs = [j for j in listing.items if isinstance(j, ParkJob)]
        return sorted(j.metadata.name for j in jobs if j.status.admission and j.status.admission.admitted)

    async def scenario() -> None:
        task = asyncio.create_task(loop.run())
        for index in range(12):
            store.create(job(f"j{index:02d}"))
            await asyncio.sleep(0.02)
        for _ in range(200):
            if len(admitted()) == 10:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # many more cycles: still ten
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert admitted() == [f"j{index:02d}" for index in range(10)]
        assert store.lists == len(WATCHED), "one list per watched kind when the loop starts, none per cycle"

    asyncio.run(scenario())


def test_a_cycle_counts_its_own_admissions_before_the_watch_reports_them(store: CountingStore) -> None:
    """The watch lags: `b` (higher priority) is in the cache, `a`'s admission is not yet. Quota fits one."""
    store.create(
        ParkQueue(
            metadata=ObjectMeta(name="default"), spec=ParkQueueSpec(nominal_quota=ComputeResources(cpu="1"))
        )
    )
    store.create(job("a"))
    cache = InformerCache(store, WATCHED)
    cache.sync()
    loop = SchedulerLoop(
        store=store, clock=FakeClock(), config=PolicyConfig(min_runtime_s=0, aging_interval_s=0), cache=cache
    )
    loop.cycle_once()  # admits a
    urgent = job("b")
    b = store.create(urgent.model_copy(update={"spec": urgent.spec.model_copy(update={"priority": 100})}))
    cache.apply(WatchEvent("ADDED", int(b.metadata.resource_version or 0), b))
    loop.cycle_once()
    admitted = {
        j.metadata.name for j in SQLiteStore.list(store, "ParkJob").items
        if isinstance(j, ParkJob) and j.status.admission and j.status.admission.admitted
    }  # fmt: skip
    assert admitted == {"a"}, "the quota of one is a's: b waits (the queue does not preempt)"


class ForgetfulStore(CountingStore):
    """Its first watch answers 410 Gone, as after the history the loop would resume from was compacted."""

    gone_once = True

    def watch(self, *, since: int, kinds: frozenset[str] | None = None) -> AsyncIterator[WatchEvent]:
        if self.gone_once:
            self.gone_once = False
            return self._gone()
        return super().watch(since=since, kinds=kinds)

    async def _gone(self) -> AsyncIterator[WatchEvent]:
        raise GoneError("watch history before resourceVersion 1 was compacted")
        yield  # pragma: no cover


def test_the_loop_lists_again_after_410_gone_and_keeps_admitting(tmp_path: Path) -> None:
    store = ForgetfulStore(tmp_path / "park.db", clock=FakeClock())
    store.create(
        ParkQueue(
            metadata=ObjectMeta(name="default"), spec=ParkQueueSpec(nominal_quota=ComputeResources(cpu="4"))
        )
    )
    loop = SchedulerLoop(
        store=store, clock=FakeClock(), config=PolicyConfig(min_runtime_s=0, aging_interval_s=0), interval=60
    )

    async def scenario() -> None:
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.3)
        store.create(job("late"))  # after the relist: only the new watch can bring it (the interval is 60 s)
        for _ in range(100):
            late = SQLiteStore.get(store, "ParkJob", "default", "late")
            if isinstance(late, ParkJob) and late.status.admission and late.status.admission.admitted:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert isinstance(late, ParkJob) and late.status.admission and late.status.admission.admitted
        assert store.lists == 2 * len(WATCHED), "listed at start, and again after the 410"

    try:
        asyncio.run(scenario())
    finally:
        store.close()
