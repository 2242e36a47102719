"""Turning a store's change log and commit notifications into an asyncio watch stream.

Any store with `changes_since` and `subscribe` can follow its changes this way: replay from a
resourceVersion, then sleep until a writer (in any thread) says something was committed. There is
no polling: an idle watcher costs one subscription and one asyncio.Event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from park.control.store.interface import WatchEvent

# read(rv) -> (changes after rv, oldest first; the resourceVersion the read covered). Covering more
# than the last change returned lets a watcher of a quiet kind move past other kinds' history, so
# compaction of that history does not expire it.
ReadChanges = Callable[[int], tuple[list[WatchEvent], int]]
Subscribe = Callable[[Callable[[int], None]], Callable[[], None]]


class _Waker:
    """Wakes one watcher's event loop from writer threads.

    A burst of writes schedules at most one wake-up per watcher rather than one per write, so 50
    watchers under a burst cost 50 loop callbacks, not 50 per write. A lost race only means one
    extra wake-up: the flag is cleared before the event is set, and the watcher reads after that.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.event = asyncio.Event()
        self._loop = loop
        self._scheduled = False

    def notify(self, _resource_version: int) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the watcher's loop is closed; its generator unsubscribes when collected
            self._scheduled = False

    def _wake(self) -> None:
        self._scheduled = False
        self.event.set()


async def follow(
    read: ReadChanges,
    subscribe: Subscribe,
    *,
    since: int,
    batch: int,
) -> AsyncIterator[WatchEvent]:
    """Yield every change after `since`, oldest first, forever (cancel to stop).

    It never ends on its own: when the store closes, `read` raises, so a consumer that watches again
    whenever a watch ends cannot spin on a closed store.

    `read(rv)` runs on the event loop thread: reads of the change log take well under a millisecond,
    and a thread hop per watcher per wake-up would cost more than it saves.
    """
    waker = _Waker(asyncio.get_running_loop())
    unsubscribe = subscribe(waker.notify)  # before the first read, so no commit falls between
    try:
        last = since
        while True:
            waker.event.clear()
            events, covered = read(last)
            for event in events:
                yield event
            last = covered
            if len(events) < batch:
                await waker.event.wait()
    finally:
        unsubscribe()
