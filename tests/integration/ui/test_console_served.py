"""The console against a real HTTP API over a fixed store: SVG snapshots of the views, keys, live updates,
and what happens when the API goes away and comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from park.core.resources import ParkJob
from park.ui.widgets import HealthHeader
from tests.integration.ui.fixtures import job, populate
from tests.integration.ui.pilot import console, shows, until
from tests.integration.ui.screen import assert_snapshot, screen_text
from tests.integration.ui.served import ServedApi, served

pytestmark = pytest.mark.integration


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ServedApi]:
    with served(tmp_path) as running:
        populate(running)
        yield running


def _fixed_server(app: object) -> None:
    """The port is chosen free per run; screenshots show the default one so they compare byte for byte."""
    app.query_one(HealthHeader).server = "http://127.0.0.1:8470"  # type: ignore[attr-defined]


def test_snapshots_of_the_main_views(api: ServedApi) -> None:
    async def scenario() -> None:
        async with console(api.client, clock=api.clock) as (app, pilot):
            _fixed_server(app)
            await shows(pilot, "train-lm", "Preempted", "s Suspend")
            assert_snapshot(app, "jobs", docs=True)
            for word, name, marker, footer in (
                ("queues", "queues", "6/4+2", "d Desc"),
                ("pcl", "clusters", "Ready", "d Desc"),
                ("ps", "services", "2/2", "S Scale"),
                ("nodes", "nodes", "gpu-box", "x Revoke"),
                ("ev", "events", "checkpointed", "? Help"),
            ):
                await pilot.press("colon", *word, "enter")
                await shows(pilot, f" {name} (", marker, footer)
                await pilot.pause(0.2)
                assert_snapshot(app, name, docs=True)
            await pilot.press("colon", *"jobs", "enter")
            await shows(pilot, "jobs (4)")
            await pilot.press("down", "d")
            await shows(pilot, "describe ParkJob default/eval-big", "waiting for cpu quota", "q Back")
            await pilot.pause(0.2)
            assert_snapshot(app, "describe", docs=True)
            await pilot.press("q", "question_mark")
            await shows(pilot, "ctrl+d")
            await pilot.pause(0.2)
            assert_snapshot(app, "help")

    asyncio.run(scenario())


def test_filter_switch_and_confirmed_actions(api: ServedApi) -> None:
    async def scenario() -> None:
        async with console(api.client, clock=api.clock) as (app, pilot):
            _fixed_server(app)
            await pilot.press("slash", *"team-a")
            screen = await shows(pilot, "jobs (2/4)", "/team-a")
            assert "train-lm" in screen and "hello" not in screen
            await pilot.press("escape")
            await shows(pilot, "jobs (4)", "hello")
            await pilot.press("colon", *"gpus", "enter")  # no such kind: no view, a hint instead
            await until(
                pilot,
                lambda: any(
                    "no view 'gpus'" in n.message and "nodes" in n.message for n in app._notifications
                ),
                what="a hint that names the kinds there are",
            )
            assert app.kind == "ParkJob"
            # The cursor stayed on eval-big through the filter; up is counter. A suspend asks first.
            await pilot.press("up", "s")
            await shows(pilot, "Suspend job default/counter?")
            await pilot.pause(0.2)
            assert_snapshot(app, "confirm", docs=True)
            await pilot.press("n")
            assert api.store.get("ParkJob", "default", "counter").spec.suspend is False  # type: ignore[union-attr]
            await pilot.press("s", "y")
            await shows(pilot, "Preempted", "r Resume")  # the footer offers resume once the watch says so
            assert api.store.get("ParkJob", "default", "counter").spec.suspend is True  # type: ignore[union-attr]
            await pilot.press("ctrl+d", "y")
            await shows(pilot, "jobs (3)")
            assert "counter" not in screen_text(app)
            await pilot.press("colon", *"services", "enter")
            await shows(pilot, "services (1)")
            await pilot.press("S")
            await shows(pilot, "Scale a deployment of service default/chat", "llm/decode (2)")
            await pilot.press("backspace", "4", "enter")
            await until(
                pilot,
                lambda: (
                    api.store.get("ParkService", "default", "chat").spec.applications[0]["deployments"]  # type: ignore[union-attr]
                    == [{"name": "decode", "num_replicas": 4}]
                ),
                what="the service to be scaled",
            )
            await pilot.press("colon", *"nodes", "enter")
            await shows(pilot, "nodes (2)", "gpu-box", "x Revoke")
            await pilot.press("x")
            await shows(pilot, "Revoke node gpu-box?")
            await pilot.press("y")
            await shows(pilot, "Online (revoking)")  # the gateway has not dropped it yet
            node = api.store.get("FederatedNode", None, "gpu-box")
            assert node.spec.revoked is True  # type: ignore[union-attr]
            events = api.store.list_events(kind="FederatedNode", name="gpu-box")
            assert [event.reason for event in events] == ["Revoking"]
            await until(pilot, lambda: "x Revoke" not in screen_text(app), what="no revoke once revoked")

    asyncio.run(scenario())


def test_rows_follow_the_watch_stream_and_survive_the_api_going_away(api: ServedApi) -> None:
    async def scenario() -> None:
        async with console(api.client, clock=api.clock, size=(120, 30)) as (_, pilot):
            hello = api.store.get("ParkJob", "default", "hello")
            assert isinstance(hello, ParkJob)
            status = hello.status.model_copy(update={"message": "archived by the test"})
            api.store.update_status(hello.model_copy(update={"status": status}))
            await shows(pilot, "archived by the test")

            api.stop()
            await shows(pilot, "reconnecting", "unreachable")
            api.put(job("late", "Running"))  # written while the console cannot see the API
            api.start()  # the same port: the console finds it again by itself
            await shows(pilot, "● live", "late", "jobs (5)", "healthz: ok")

    asyncio.run(scenario())


def test_ages_advance_between_changes(api: ServedApi) -> None:
    """AGE is computed from the clock, not only when a row changes: with no event at all, it still grows."""

    def age_of(name: str) -> str:
        lines = screen_text(app).splitlines()
        column = next(line for line in lines if " AGE " in line).index(" AGE ") + 1
        return next(line for line in lines if f" {name} " in line)[column:].split()[0]

    async def scenario() -> None:
        nonlocal app
        async with console(api.client, clock=api.clock, size=(120, 30)) as (app, pilot):
            await shows(pilot, "hello", "Succeeded")
            before = int(age_of("hello").removesuffix("m"))
            api.clock.advance(600)  # ten minutes without a single change to any object
            await until(pilot, lambda: age_of("hello") == f"{before + 10}m", what="AGE to move on", timeout=5)
            await pilot.press("colon", *"events", "enter")
            await shows(pilot, " events (")
            last = screen_text(app)
            api.clock.advance(7200)
            await until(pilot, lambda: "2h" in screen_text(app) and "2h" not in last, what="LAST to move on")

    app: object = None
    asyncio.run(scenario())
