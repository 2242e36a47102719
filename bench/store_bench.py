"""The embedded store against raw sqlite3: what Park's semantics cost on top of the same SQLite writes.

Run from the repository root: `python bench/store_bench.py` (about 15-30 s). Each row pairs Park's
SQLiteStore with a baseline in the same run, on the same kind of file (WAL, synchronous=NORMAL), with
the same JSON bodies: plain INSERT / UPDATE / SELECT + json.loads on one table, and for watches the
same wake-up fan-out over a plain change table, with no validation and no version checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from park.control.store.sqlite import SQLiteStore
from park.core.meta import ObjectMeta
from park.core.resources import AnyResource, ParkJob, ParkJobSpec


@dataclass(frozen=True)
class Row:
    name: str
    unit: str
    park: float
    raw: float
    note: str = ""


def make_job(number: int, namespace: str = "bench") -> ParkJob:
    meta = ObjectMeta(name=f"job-{number:05d}", namespace=namespace, labels={"team": f"t{number % 7}"})
    spec = ParkJobSpec(entrypoint="python train.py --epochs 3", runtime_env={"pip": ["torch"]})
    return ParkJob(metadata=meta, spec=spec)


def raw_connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE objects (ns TEXT, name TEXT, rv INTEGER, body TEXT, PRIMARY KEY (ns, name))")
    db.execute("CREATE TABLE changes (rv INTEGER PRIMARY KEY, body TEXT)")
    return db


def rate(count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


# ---------------------------------------------------------------- writes and lists


def bench_crud(workdir: Path, objects: int, updates: int, lists: int) -> list[Row]:
    store = SQLiteStore(workdir / "park.db")
    jobs = [make_job(n) for n in range(objects)]
    created: list[AnyResource] = []
    park_creates = rate(objects, lambda: created.extend(store.create(job) for job in jobs))
    bodies = [json.dumps(obj.to_dict(), separators=(",", ":")) for obj in created]

    def park_update_all() -> None:
        for n in range(updates):
            index = n % len(created)
            created[index].spec.priority += 1
            created[index] = store.update(created[index])

    park_updates = rate(updates, park_update_all)
    park_lists = rate(lists, lambda: [store.list("ParkJob", namespace="bench") for _ in range(lists)])
    store.close()

    raw = raw_connect(workdir / "raw.db")
    insert = "INSERT INTO objects VALUES ('bench', ?, ?, ?)"
    raw_creates = rate(objects, lambda: [raw.execute(insert, (f"j{n}", n, b)) for n, b in enumerate(bodies)])
    update = "UPDATE objects SET body = ?, rv = ? WHERE ns = 'bench' AND name = ?"
    raw_updates = rate(
        updates,
        lambda: [raw.execute(update, (bodies[n % objects], n, f"j{n % objects}")) for n in range(updates)],
    )
    select = "SELECT body FROM objects WHERE ns = 'bench' ORDER BY name"
    raw_lists = rate(lists, lambda: [[json.loads(b) for (b,) in raw.execute(select)] for _ in range(lists)])
    raw.close()
    return [
        Row("create", "objects/s", park_creates, raw_creates, "one transaction each"),
        Row("update (spec, rv check)", "objects/s", park_updates, raw_updates, "one transaction each"),
        Row(f"list {objects:,} objects", "lists/s", park_lists, raw_lists, "raw: SELECT + json.loads"),
    ]


# ---------------------------------------------------------------- watch fan-out


@dataclass
class FanOut:
    delivered: int = 0
    seconds: float = 0.0
    latencies: list[float] | None = None

    def summary(self) -> tuple[float, float, float]:
        lat = sorted(self.latencies or [0.0])
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return self.delivered / self.seconds, statistics.median(lat) * 1e3, p99 * 1e3


async def park_fan_out(store: SQLiteStore, watchers: int, writes: int, pace_s: float) -> FanOut:
    """Latency runs from the writer's call to a watcher's receipt (write, commit, wake-up, decode)."""
    started_at: dict[int, float] = {}
    start_rv = store.current_resource_version()
    latencies: list[float] = []

    async def consume() -> None:
        seen = 0
        async for event in store.watch(since=start_rv):
            latencies.append(time.perf_counter() - started_at[event.resource_version])
            seen += 1
            if seen == writes:
                return

    tasks = [asyncio.create_task(consume()) for _ in range(watchers)]
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    await asyncio.to_thread(_park_writer, store, start_rv, writes, pace_s, started_at)
    await asyncio.gather(*tasks)
    return FanOut(watchers * writes, time.perf_counter() - started, latencies)


def _park_writer(
    store: SQLiteStore, rv: int, writes: int, pace_s: float, started_at: dict[int, float]
) -> None:
    started_at[rv + 1] = time.perf_counter()  # one writer: the next version is known
    job = store.create(make_job(99_999, namespace="watch"))
    for version in range(rv + 2, rv + writes + 1):
        job.spec.priority += 1
        started_at[version] = time.perf_counter()
        job = store.update(job)
        if pace_s:
            time.sleep(pace_s)


async def raw_fan_out(db: sqlite3.Connection, body: str, watchers: int, writes: int, pace_s: float) -> FanOut:
    loop = asyncio.get_running_loop()
    lock = threading.Lock()
    wakers = [asyncio.Event() for _ in range(watchers)]
    committed: dict[int, float] = {}
    latencies: list[float] = []

    async def consume(wake: asyncio.Event) -> None:
        last = 0
        while last < writes:
            wake.clear()
            with lock:
                rows = db.execute("SELECT rv, body FROM changes WHERE rv > ? ORDER BY rv", (last,)).fetchall()
            for rv, text in rows:
                json.loads(text)
                latencies.append(time.perf_counter() - committed[rv])
                last = rv
            if last < writes:
                await wake.wait()

    def writer() -> None:
        for rv in range(1, writes + 1):
            committed[rv] = time.perf_counter()
            with lock:
                db.execute("INSERT INTO changes VALUES (?, ?)", (rv, body))
            for wake in wakers:
                loop.call_soon_threadsafe(wake.set)
            if pace_s:
                time.sleep(pace_s)

    tasks = [asyncio.create_task(consume(wake)) for wake in wakers]
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    await asyncio.to_thread(writer)
    await asyncio.gather(*tasks)
    return FanOut(watchers * writes, time.perf_counter() - started, latencies)


def bench_watch(workdir: Path, watchers: int, writes: int, pace_s: float, label: str) -> list[Row]:
    store = SQLiteStore(workdir / f"watch-{label}.db")
    park = asyncio.run(park_fan_out(store, watchers, writes, pace_s)).summary()
    body = json.dumps(store.list("ParkJob").items[0].to_dict())
    store.close()
    db = raw_connect(workdir / f"raw-watch-{label}.db")
    raw = asyncio.run(raw_fan_out(db, body, watchers, writes, pace_s)).summary()
    db.close()
    what = f"{watchers} watchers, {writes} writes {label}"
    return [
        Row(
            f"watch fan-out: {what}",
            "events/s",
            park[0],
            raw[0],
            "paced: bounded by the pace" if pace_s else "",
        ),
        Row(f"  delivery latency p50 ({label})", "ms", park[1], raw[1], "lower is better"),
        Row(f"  delivery latency p99 ({label})", "ms", park[2], raw[2], "lower is better"),
    ]


# ---------------------------------------------------------------- report


def render(rows: list[Row], seconds: float, repeat: int) -> None:
    title = f"Park SQLiteStore vs raw sqlite3 (WAL, synchronous=NORMAL): best of {repeat}, {seconds:.1f} s"
    table = Table(title=title)
    for column in ("operation", "unit", "Park", "raw sqlite3", "Park/raw", "note"):
        table.add_column(column, justify="left" if column in ("operation", "note") else "right")
    for row in rows:
        ratio = row.park / row.raw if row.raw else float("nan")
        table.add_row(row.name, row.unit, f"{row.park:,.1f}", f"{row.raw:,.1f}", f"{ratio:.2f}", row.note)
    Console(width=140).print(table)


def best_of(runs: list[list[Row]]) -> list[Row]:
    """Per row, the best run: the machine's noise only ever makes a run slower."""
    merged = []
    for rows in zip(*runs, strict=True):
        pick = min if rows[0].unit == "ms" else max
        merged.append(
            Row(
                rows[0].name,
                rows[0].unit,
                pick(r.park for r in rows),
                pick(r.raw for r in rows),
                rows[0].note,
            )
        )
    return merged


def run_once(args: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="park-bench-") as tmp:
        workdir = Path(tmp)
        rows = bench_crud(workdir, args.objects, args.updates, args.lists)
        rows += bench_watch(workdir, args.watchers, args.writes, 0.0, "burst")
        rows += bench_watch(workdir, args.watchers, args.writes // 5, 0.002, "paced 2 ms")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000, help="objects created (and listed)")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--lists", type=int, default=20)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--writes", type=int, default=500, help="writes each watcher must receive")
    parser.add_argument("--repeat", type=int, default=3, help="runs; each row shows its best")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = best_of([run_once(args) for _ in range(args.repeat)])
    render(rows, time.perf_counter() - started, args.repeat)


if __name__ == "__main__":
    main()
