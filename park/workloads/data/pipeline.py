"""The `data` pipeline on Ray Data: two streaming passes per modality, a dedup decision in between.

    list files (driver)
    pass 1, Ray tasks:   read bytes -> decode, validate, fingerprint     -> driver: counts, fingerprints
    driver:              LSH + exact check -> records to drop (curate.find_duplicates)
    pass 2, Ray tasks:   read kept files -> decode, normalize, chunk
            Ray actors:  embed (GPU when the cluster has one)           -> Parquet (written by Ray tasks)

Why two passes and not one materialized dataset: near-duplicate removal needs every fingerprint
before it can drop anything, and holding the decoded data (224x224x3 bytes an image) in the object
store until then does not scale past its memory; fingerprints are ~1 KB a record. The price is
decoding kept files twice, which is cheap next to embedding them. Pass 2 streams: decode tasks feed
the actor pool while it embeds, through the object store, without the driver touching the data.

Pass 1 runs per modality (each is short, and its result is a table on the driver); pass 2 is one
execution for all of them, the three decode streams unioned into one actor pool (see `embed`). The
driver reports counts as they come: after listing, after each pass 1, live during pass 2 (from a
small counter actor the embedders tell), and at the end from the written Parquet itself.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.dataset as pads

from park.workloads.contract import JobContext
from park.workloads.data import curate, stages
from park.workloads.data.embed import Embedder, EmbedPlan, plan_embedding
from park.workloads.data.params import DataParams, Modality
from park.workloads.data.report import StageCounts
from park.workloads.data.schema import MODELS
from park.workloads.data.sources import Sources, check_output, list_sources

logger = logging.getLogger(__name__)
LIVE_REPORT_SECONDS = 2.0
MAX_EXAMPLES = 5


class ProgressCounter:
    """A tiny actor the embedding actors tell how many rows they produced (for live progress only:
    a retried task counts twice here; the final numbers come from the output itself)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, stage: str, modality: str, n: int) -> None:
        self.counts[f"{stage}/{modality}"] += n

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)


@dataclass(frozen=True)
class Fingerprints:
    """Pass 1's result for one modality: the columns of `stages.fingerprint_*`, all batches joined."""

    path: np.ndarray
    record_index: np.ndarray
    status: np.ndarray
    chunks: np.ndarray
    signature: np.ndarray
    bands: np.ndarray


@dataclass(frozen=True)
class Plan:
    """What pass 1 decided for one modality."""

    files: list[str]  # files with at least one kept record
    drop: frozenset[curate.RecordKey]


class Pipeline:
    def __init__(self, params: DataParams, context: JobContext) -> None:
        self.params = params
        self.context = context
        self.output = params.output or context.file("output")
        self.counts = StageCounts(modalities=params.modalities)
        self.settings = params.settings()
        self.embedding_dims = {m: MODELS[m].dim for m in params.modalities}
        self.invalid_examples: dict[str, list[str]] = {}  # reason -> a few files, to go and look at

    def report(self, **fields: Any) -> dict[str, Any]:
        return self.context.report(
            stages=self.counts.stages(),
            invalidReasons=self.counts.invalid_reasons(),
            invalidExamples=self.invalid_examples,
            output=self.output,
            embeddingDim=self.embedding_dims,
            embedders={m: MODELS[m].name for m in self.params.modalities},
            **fields,
        )

    def run(self, sources: Sources | None = None) -> dict[str, Any]:
        import ray  # noqa: PLC0415

        sources = sources or list_sources(self.params.input)
        check_output(self.output)
        for m in self.params.modalities:
            self.counts.set("read", m, len(sources.files[m]))
        self.report(state="Running", error=None, done=False, step="listed", skippedFiles=len(sources.skipped))
        logger.info(
            "input %s: %s", self.params.input, {m: len(sources.files[m]) for m in self.params.modalities}
        )
        plan = plan_embedding(
            ray.cluster_resources(),  # type: ignore[no-untyped-call]
            use_gpu=self.params.use_gpu,
            max_actors=self.params.max_embed_actors,
        )
        logger.info("embedding on %s, up to %d actor(s) per modality", plan.device, plan.max_actors)
        plans = {m: self.curate(sources, m) for m in self.params.modalities}
        progress: Any = ray.remote(num_cpus=0)(ProgressCounter).remote()
        try:
            self.embed(sources, plans, plan, progress)
        finally:
            ray.kill(progress)
        return self.report(state="Succeeded", done=True, step="done", device=plan.device)

    # -- pass 1 ------------------------------------------------------------------------------------

    def curate(self, sources: Sources, modality: Modality) -> Plan:
        prints = self.fingerprint(sources, modality)
        valid = prints.status == stages.OK
        reasons = Counter(str(s) for s in prints.status[~valid])
        self.counts.set("records", modality, len(prints.status))
        self.counts.set("decoded", modality, int(valid.sum()))
        self.counts.set_invalid(modality, reasons)
        for path, status in zip(prints.path[~valid], prints.status[~valid], strict=True):
            examples = self.invalid_examples.setdefault(str(status), [])
            if len(examples) < MAX_EXAMPLES:
                examples.append(sources.display(str(path)))
        keys = [(str(p), int(i)) for p, i in zip(prints.path[valid], prints.record_index[valid], strict=True)]
        if self.params.dedup:
            result = curate.find_duplicates(
                keys,
                prints.bands[valid],
                prints.signature[valid],
                similarity=curate.SIMILARITY[modality],
                threshold=self.params.threshold(modality),
            )
            drop = result.drop
        else:
            drop = frozenset()
        kept = [k not in drop for k in keys]
        self.counts.set("duplicates", modality, len(drop))
        self.counts.set("deduplicated", modality, sum(kept))
        self.counts.set("chunks", modality, int(prints.chunks[valid][kept].sum()) if keys else 0)
        self.report(state="Running", step=f"curated/{modality}")
        logger.info("%s", self.counts.line(modality))
        files = sorted({path for (path, _), keep in zip(keys, kept, strict=True) if keep})
        return Plan(files=files, drop=drop)

    def fingerprint(self, sources: Sources, modality: Modality) -> Fingerprints:
        parts: list[dict[str, np.ndarray]] = []
        files = sources.files[modality]
        if files:
            ds = self._read(sources, files).map_batches(
                stages.FINGERPRINT[modality],
                fn_kwargs={"settings": self.settings},
                batch_size=self.params.files_per_batch,
                batch_format="numpy",
            )
            for batch in ds.iter_batches(batch_size=1024, batch_format="numpy"):
                parts.append(batch)
                logger.info("fingerprinted %s: %d records", modality, sum(len(p["status"]) for p in parts))
        if not parts:
            parts = [stages.empty_fingerprints(modality)]
        return Fingerprints(**{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})

    def _read(self, sources: Sources, files: list[str]) -> Any:
        import ray.data  # noqa: PLC0415

        return ray.data.read_binary_files(files, filesystem=sources.filesystem, include_paths=True)

    # -- pass 2 ------------------------------------------------------------------------------------

    def embed(self, sources: Sources, plans: dict[Modality, Plan], compute: EmbedPlan, progress: Any) -> None:
        """One streaming execution for every modality: the decode/chunk streams are unioned into one
        actor pool, so decoding overlaps with model loading and embedding, and the pool's cold start
        is paid once. Blocks stay of one modality each (`batch_size=None`: a block is a batch; the
        actor cuts it into model batches), which keeps each block's columns fixed-shape arrays that
        reach the actors as numpy views of the object store's shared memory, without a copy until
        the device transfer."""
        from ray.data import SaveMode  # noqa: PLC0415

        streams = [
            self._read(sources, plan.files).map_batches(
                stages.PREPARE[modality],
                fn_kwargs={"settings": self.settings, "drop": plan.drop},
                batch_size=self.params.files_per_batch,
                batch_format="numpy",
            )
            for modality, plan in plans.items()
            if plan.files
        ]
        if streams:
            ds = streams[0].union(*streams[1:]) if len(streams) > 1 else streams[0]
            ds = ds.map_batches(
                Embedder,
                fn_constructor_kwargs={
                    "batch_size": self.params.batch_size,
                    "progress": progress,
                    "scheme": sources.scheme,
                },
                batch_size=None,
                batch_format="numpy",
                **compute.map_batches_args(),
            )
            self.report(state="Running", step="embedding")  # then the counts, every LIVE_REPORT_SECONDS
            with _every(LIVE_REPORT_SECONDS, lambda: self._embedded(progress, step="embedding")):
                ds.write_parquet(self.output, mode=SaveMode.OVERWRITE)
        written = _count_rows(self.output) if streams else Counter()
        self._embedded(progress, step="written")
        for m in self.params.modalities:
            self.counts.set("written", m, written[m])
            logger.info("%s", self.counts.line(m))
        self.report(state="Running", step="written")

    def _embedded(self, progress: Any, *, step: str) -> None:
        import ray  # noqa: PLC0415

        snapshot: dict[str, int] = ray.get(progress.snapshot.remote())
        for m in self.params.modalities:
            self.counts.set("embedded", m, snapshot.get(f"embedded/{m}", 0))
        self.report(state="Running", step=step)
        done = ", ".join(
            f"{m} {self.counts.get('embedded', m)}/{self.counts.get('chunks', m)}"
            for m in self.params.modalities
        )
        logger.info("embedded (chunks): %s", done)


@contextmanager
def _every(seconds: float, action: Callable[[], None]) -> Iterator[None]:
    """Run `action` every `seconds` in a daemon thread while the body runs (errors are logged)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            try:
                action()
            except Exception:  # progress must never break the job
                logger.exception("progress update failed")

    thread = threading.Thread(target=loop, name="data-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _count_rows(target: str) -> Counter[str]:
    """Rows per modality in the written Parquet (reads the `modality` column only)."""
    table = pads.dataset(target, format="parquet").to_table(columns=["modality"])
    return Counter(table.column("modality").to_pylist())


def run(params: DataParams, context: JobContext, *, sources: Sources | None = None) -> dict[str, Any]:
    """Run the pipeline on the Ray cluster this process is connected to; returns the final report."""
    return Pipeline(params, context).run(sources)
