"""`park console` with 1,000 jobs: first paint, keystroke and watch latency, memory, against `park get jobs`.

The API is real (uvicorn on 127.0.0.1, the FastAPI app over a SQLiteStore) and holds 1,000 jobs; the
baseline is the CLI on the same data, measured in the same run. The console runs headless (Textual's
pilot), so "paint" is the first frame with all rows in the table, not a terminal's own drawing.

    python bench/console_bench.py [--jobs 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the served API helper lives with the console's tests

from park.cli import render  # noqa: E402
from park.core.resources import ParkJob  # noqa: E402
from park.ui import ConsoleApp  # noqa: E402
from tests.integration.ui.served import TOKEN, ServedApi, served  # noqa: E402


def populate(api: ServedApi, count: int) -> None:
    for i in range(count):
        api.put(
            {
                "apiVersion": "park.dev/v1alpha1",
                "kind": "ParkJob",
                "metadata": {"name": f"job-{i:04d}", "namespace": f"team-{i % 10}"},
                "spec": {"entrypoint": "python train.py", "queue": "default"},
                "status": {"phase": "Running" if i % 3 else "Queued", "attempt": 1, "message": f"step {i}"},
            }
        )


def cli_subprocess(api: ServedApi, runs: int = 3) -> float:
    """`park get jobs -A` as a user runs it: a new process, one list, one table."""
    env = {**os.environ, "PARK_SERVER": api.url, "PARK_TOKEN": TOKEN}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "park", "get", "jobs", "-A"], env=env, capture_output=True, check=True
        )
        times.append(time.perf_counter() - started)
        assert b"job-0999" in done.stdout or b"job-" in done.stdout
    return statistics.median(times)


def cli_in_process(api: ServedApi) -> float:
    """The same list and table without interpreter start-up: what the CLI itself costs."""
    started = time.perf_counter()
    with api.client() as client:
        jobs = client.list_objects("ParkJob")
    Console(file=io.StringIO(), width=200).print(render.table("ParkJob", jobs, show_namespace=True))
    return time.perf_counter() - started


async def until(pilot: object, predicate: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await pilot.pause(0.005)  # type: ignore[attr-defined]


async def console_run(api: ServedApi, count: int) -> dict[str, float]:
    started = time.perf_counter()
    app = ConsoleApp(connect=api.client, clock=api.clock)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app._table
        await until(pilot, lambda: table.row_count == count)
        await pilot.pause()
        first_paint = time.perf_counter() - started

        floor = []  # a key bound to nothing: what the pilot itself costs per keystroke
        for _ in range(5):
            before = time.perf_counter()
            await pilot.press("x")
            await pilot.pause()
            floor.append(time.perf_counter() - before)

        keystrokes = []
        await pilot.press("slash")
        for i, char in enumerate("job-0999"):
            before = time.perf_counter()
            await pilot.press(char)
            await until(pilot, lambda i=i: app.filter == "job-0999"[: i + 1])
            await pilot.pause()
            keystrokes.append(time.perf_counter() - before)
        assert table.row_count == 1
        await pilot.press("escape")
        await until(pilot, lambda: table.row_count == count)

        watch = []
        for n in range(5):
            job = api.store.get("ParkJob", "team-5", "job-0005")
            assert isinstance(job, ParkJob)
            status = job.status.model_copy(update={"message": f"bench {n}"})
            before = time.perf_counter()
            api.store.update_status(job.model_copy(update={"status": status}))
            await until(pilot, lambda n=n: (table.cells_of("team-5/job-0005") or ("",))[-1] == f"bench {n}")
            watch.append(time.perf_counter() - before)
    return {
        "first_paint": first_paint,
        "keystroke": statistics.median(keystrokes),
        "keystroke_max": max(keystrokes),
        "floor": statistics.median(floor),
        "watch": statistics.median(watch),
    }


def memory(api: ServedApi, count: int) -> tuple[int, int]:
    """Peak Python allocations: the CLI's list + table, and a console holding every row."""
    tracemalloc.start()
    cli_in_process(api)
    cli_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    async def hold() -> None:
        app = ConsoleApp(connect=api.client, clock=api.clock)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app._table.row_count == count, timeout=300)

    tracemalloc.start()
    asyncio.run(hold())
    console_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return cli_peak, console_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state, served(Path(state)) as api:
        populate(api, args.jobs)
        cli_process = cli_subprocess(api)
        cli_call = statistics.median(cli_in_process(api) for _ in range(3))
        console = asyncio.run(console_run(api, args.jobs))
        cli_mem, console_mem = memory(api, args.jobs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.jobs} jobs, API on 127.0.0.1 (real HTTP), console headless at 120x40")
    print(f"park get jobs -A (new process)      {cli_process * 1000:8.0f} ms")
    print(f"park get jobs -A (list + table)     {cli_call * 1000:8.0f} ms")
    print(f"console: first paint, all rows      {console['first_paint'] * 1000:8.0f} ms")
    print(
        f"console: keystroke -> filtered rows {console['keystroke'] * 1000:8.1f} ms median, "
        f"{console['keystroke_max'] * 1000:.1f} ms max"
    )
    print(f"pilot floor (a key bound to nothing) {console['floor'] * 1000:8.1f} ms median")
    print(f"console: store write -> row updated {console['watch'] * 1000:8.1f} ms median (watch stream)")
    print(f"memory peak (tracemalloc): CLI {cli_mem / 2**20:.1f} MiB, console {console_mem / 2**20:.1f} MiB")
    print(f"process max RSS (bench, console included): {rss:.0f} MiB")
    print(f"ratio first paint / park get (new process): {console['first_paint'] / cli_process:.2f}x")
    print(f"ratio first paint / park get (list + table): {console['first_paint'] / cli_call:.2f}x")
    print(f"ratio keystroke / park get (new process):   {console['keystroke'] / cli_process:.3f}x")
    print(f"ratio memory console / CLI:                 {console_mem / max(cli_mem, 1):.2f}x")


if __name__ == "__main__":
    main()
