"""Driving the console in tests: start it against a server, wait for what a person would wait for."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from textual.pilot import Pilot

from park.client import ParkClient
from park.core.clock import Clock
from park.ui import ConsoleApp
from tests.integration.ui.screen import screen_text


@asynccontextmanager
async def console(
    connect: Callable[[], ParkClient],
    *,
    clock: Clock | None = None,
    size: tuple[int, int] = (80, 24),
    kind: str = "jobs",
) -> AsyncIterator[tuple[ConsoleApp, Pilot[None]]]:
    app = ConsoleApp(connect=connect, clock=clock, kind=kind)
    async with app.run_test(size=size) as pilot:
        await until(
            pilot,
            lambda: app.kind is not None and "readyz: ready │ ● live" in screen_text(app),
            what="the first list",
        )
        yield app, pilot


async def until(
    pilot: Pilot[None], predicate: Callable[[], object], *, what: str, timeout: float = 20
) -> None:
    """Let the app run until `predicate` holds (the mirror's thread delivers rows asynchronously)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def shows(pilot: Pilot[None], *texts: str, timeout: float = 20) -> str:
    """Wait until every text is on the screen; return the screen."""
    await until(
        pilot, lambda: all(t in screen_text(pilot.app) for t in texts), what=repr(texts), timeout=timeout
    )
    return screen_text(pilot.app)
