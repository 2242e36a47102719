"""The console against a real `park up` (Ray head, controllers, scheduler): navigate, filter, follow a
job's logs, suspend it and watch its status change. One module, one platform: starting Ray is slow."""

from __future__ import annotations

import asyncio

import pytest

from park.core.resources import ParkJob
from tests.integration.conftest import ParkUp
from tests.integration.ui.pilot import console, shows

pytestmark = pytest.mark.integration

TICKER = """\
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {name: ticker}
spec:
  entrypoint: >-
    python -u -c "import time; [(print('tick', i, flush=True), time.sleep(0.5)) for i in range(600)]"
  entrypointResources: {cpu: 0.5}
  checkpoint: {preemptionGraceSeconds: 2}
"""


def test_navigate_filter_follow_logs_and_suspend_a_running_job(park_up: ParkUp) -> None:
    applied = park_up.cli("apply", "-f", "-", stdin=TICKER)
    assert applied.returncode == 0, applied.stderr
    park_up.cli("apply", "-f", "-", stdin=TICKER.replace("name: ticker", "name: other"))

    async def scenario() -> None:
        async with console(park_up.client, size=(100, 30)) as (app, pilot):
            await pilot.press("colon", *"clusters", "enter")
            await shows(pilot, "clusters (1)", "Ready")
            await pilot.press("colon", *"queues", "enter")
            await shows(pilot, "queues (1)", "/2")  # the default queue: 2 CPUs nominal (--cpus 2)

            await pilot.press("colon", *"jobs", "enter")
            await shows(pilot, "ticker", "other")
            await pilot.press("slash", *"ticker", "enter")
            screen = await shows(pilot, "jobs (1/2)", "Running", timeout=120)
            assert "other" not in screen

            await pilot.press("l")
            await shows(pilot, "logs job default/ticker", "tick 3", timeout=60)
            await shows(pilot, "tick 6", timeout=30)  # followed: new lines arrive without a key
            await pilot.press("q")

            await pilot.press("s")
            await shows(pilot, "Suspend job default/ticker?")
            await pilot.press("y")
            await shows(pilot, "Preempted", "r Resume", timeout=90)
            job = park_up.get("ParkJob", "default", "ticker")
            assert isinstance(job, ParkJob) and job.spec.suspend and job.status.phase == "Preempted"

            await pilot.press("d")
            await shows(pilot, "describe ParkJob default/ticker", "Preempted", "Events")
            await pilot.press("q")
            assert app.kind == "ParkJob"

    try:
        asyncio.run(scenario())
    finally:
        for name in ("ticker", "other"):
            park_up.cli("delete", "job", name)
