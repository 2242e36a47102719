"""The work queue never hands one key to two workers and backs off per key."""

from __future__ import annotations

import asyncio

from park.control.controllers.workqueue import WorkQueue


def test_a_key_added_many_times_is_processed_once() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        for key in ("a", "b", "a", "a"):
            queue.add(key)
        return [await queue.get(), await queue.get()] + ([] if len(queue) == 0 else ["extra"])

    assert asyncio.run(scenario()) == ["a", "b"]


def test_a_key_added_while_processing_comes_back_after_done() -> None:
    async def scenario() -> tuple[int, str]:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        key = await queue.get()
        queue.add("a")  # a change arrives while a worker holds "a"
        waiting = len(queue)
        queue.done(key)
        return waiting, await asyncio.wait_for(queue.get(), 1)

    assert asyncio.run(scenario()) == (0, "a")


def test_failures_back_off_exponentially_until_forgotten() -> None:
    async def scenario() -> list[float]:
        queue: WorkQueue[str] = WorkQueue(base_delay=0.01, max_delay=0.04)
        delays = [queue.add_rate_limited("a") for _ in range(4)]
        queue.forget("a")
        delays.append(queue.add_rate_limited("a"))
        return delays

    assert asyncio.run(scenario()) == [0.01, 0.02, 0.04, 0.04, 0.01]


def test_add_after_delivers_later_and_the_earliest_timer_wins() -> None:
    async def scenario() -> str:
        queue: WorkQueue[str] = WorkQueue()
        queue.add_after("a", 10)
        queue.add_after("a", 0.01)
        return await asyncio.wait_for(queue.get(), 1)

    assert asyncio.run(scenario()) == "a"
