"""Data pipeline throughput: the Ray Data pipeline against a plain single-process loop, same run.

Both process the same generated files with the same code for every step: the decoders, validators,
fingerprints and near-duplicate clustering (`park.workloads.data.stages` / `curate`), the same three
models through the same `Embedder` class, the same Parquet rows. The loop is what one would write
without Ray: one process, files in order, torch free to use every core for each batch.

Throughput is valid input records per second of wall time (after `ray.init`, which a cluster pays
once, not per job; model loading is inside both timings). Each side runs once after a warm-up of
both on a small set, alternating, so disk caches and imports favour neither.

    python bench/pipeline_bench.py [--items 600] [--corrupt 5] [--seed 0] [--image-size 224]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from ray.data import DataContext

from park.workloads.contract import JobContext
from park.workloads.data import DataParams, curate, run, stages
from park.workloads.data.embed import Embedder
from park.workloads.data.sources import list_sources
from park.workloads.datagen import generate


def _batch(paths: list[str]) -> dict[str, np.ndarray]:
    return {
        "bytes": np.array([Path(p).read_bytes() for p in paths], dtype=object),
        "path": np.array(paths, dtype=object),
    }


def loop(params: DataParams, output: Path) -> int:
    """The pipeline's steps, one after another in this process. Returns valid records seen."""
    sources, settings, valid_records = list_sources(params.input), params.settings(), 0
    embedder = Embedder(batch_size=params.batch_size)  # loads each model on first use, like the actors
    for modality in params.modalities:
        files = sources.files[modality]
        step = params.files_per_batch
        parts = [
            stages.FINGERPRINT[modality](_batch(files[i : i + step]), settings=settings)
            for i in range(0, len(files), step)
        ]
        prints = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        valid = prints["status"] == stages.OK
        valid_records += int(valid.sum())
        keys = [
            (str(p), int(i))
            for p, i in zip(prints["path"][valid], prints["record_index"][valid], strict=True)
        ]
        drop = curate.find_duplicates(
            keys,
            prints["bands"][valid],
            prints["signature"][valid],
            similarity=curate.SIMILARITY[modality],
            threshold=params.threshold(modality),
        ).drop
        kept = sorted({p for p, i in keys if (p, i) not in drop})
        tables = []
        for i in range(0, len(kept), step):
            chunks = stages.PREPARE[modality](_batch(kept[i : i + step]), settings=settings, drop=drop)
            tables.append(embedder(chunks))  # cuts it into batches of params.batch_size
        pq.write_table(pa.concat_tables(tables), output / f"{modality}.parquet")
    return valid_records


def decoded(report: dict[str, Any]) -> int:
    return int(report["stages"]["decoded"]["total"])


def timed(label: str, fn: Any) -> tuple[float, int]:
    start = time.perf_counter()
    records = fn()
    seconds = time.perf_counter() - start
    print(f"   {label:<8}: {records / seconds:7.2f} records/s  ({records} records in {seconds:.1f} s)")
    return seconds, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--corrupt", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--max-embed-actors", type=int, default=None, help="default: the workload's own")
    args = parser.parse_args()

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(
            f"== data pipeline: {args.items} items + {3 * args.corrupt} corrupt files, {os.cpu_count()} CPUs"
        )
        for name, items in (("warmup", 24), ("data", args.items)):
            generate(work / name, items=items, corrupt=args.corrupt, seed=args.seed)
        results = {}
        for name in ("warmup", "data"):
            params = DataParams(
                input=str(work / name), image_size=args.image_size, max_embed_actors=args.max_embed_actors
            )
            (work / f"loop-{name}").mkdir()
            context = JobContext.from_env({"PARK_JOB_DIR": str(work / f"job-{name}")})
            if name == "warmup":
                print("   (warm-up: both sides once on 24 items)")
            results[name] = {
                "loop": timed("loop", lambda p=params, n=name: loop(p, work / f"loop-{n}")),
                "pipeline": timed("pipeline", lambda p=params, c=context: decoded(run(p, c))),
            }
        (loop_s, records), (pipe_s, _) = results["data"]["loop"], results["data"]["pipeline"]
        print(f"   ratio pipeline/loop: {loop_s / pipe_s:.2f}x throughput ({records} records)")
    ray.shutdown()


if __name__ == "__main__":
    main()
