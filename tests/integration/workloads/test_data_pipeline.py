"""The `data` workload on a real local Ray, over a generated mixed data set whose every planted
near-duplicate and corrupt file is known: each stage's row count must come out exactly."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from park.workloads.contract import JobContext
from park.workloads.data import DataParams, run
from park.workloads.data.schema import OUTPUT_SCHEMA
from park.workloads.datagen import generate
from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration

ITEMS, CORRUPT, SEED = 240, 3, 7
MODALITIES = ("text", "image", "audio")
DIMS = {"text": 384, "image": 1280, "audio": 256}
PARAMS: dict[str, Any] = {"image_size": 128, "text_chunk_words": 64, "audio_window_s": 1.0}


def expected_counts(
    manifest: dict[str, Any], *, chunk_words: int, window_s: float
) -> dict[str, dict[str, int]]:
    """What the pipeline must report, derived from what the generator planted."""
    out: dict[str, dict[str, int]] = {}
    for m in MODALITIES:
        records = [r for r in manifest["records"] if r["modality"] == m]
        originals = [r for r in records if r["kind"] == "original"]
        if m == "text":
            chunks = sum(math.ceil(r["words"] / chunk_words) for r in originals)
        elif m == "audio":
            chunks = sum(math.ceil(r["duration_s"] / window_s) for r in originals)
        else:
            chunks = len(originals)
        out[m] = {
            "read": len({r["path"] for r in records}),
            "records": len(records),
            "decoded": sum(r["kind"] != "corrupt" for r in records),
            "invalid": sum(r["kind"] == "corrupt" for r in records),
            "duplicates": sum(r["kind"] == "duplicate" for r in records),
            "deduplicated": len(originals),
            "chunks": chunks,
            "embedded": chunks,
            "written": chunks,
        }
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("mixed")
    return root, generate(root, items=ITEMS, corrupt=CORRUPT, seed=SEED)


def test_the_module_runs_as_the_platform_runs_it(tmp_path: Path) -> None:
    """`python -m park.workloads.data` with PARK_WORKLOAD_PARAMS and PARK_JOB_DIR, its own local Ray."""
    data = tmp_path / "data"
    manifest = generate(data, items=16, corrupt=1, seed=3)
    params = {"input": str(data), "modalities": ["audio"]}
    env = {**os.environ, "PARK_JOB_DIR": str(tmp_path / "job"), "PARK_WORKLOAD_PARAMS": json.dumps(params)}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "park.workloads.data"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "job" / "report.json").read_text())
    want = expected_counts(manifest, chunk_words=128, window_s=1.0)
    assert report["state"] == "Succeeded"
    assert report["stages"]["written"] == {
        "audio": want["audio"]["written"],
        "total": want["audio"]["written"],
    }
    assert report["invalidReasons"]["audio"] == {"truncated": 1}
    assert "written" in done.stdout  # the summary table
    assert pq.read_table(tmp_path / "job" / "output").num_rows == report["stages"]["written"]["total"]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


STEPS: list[str] = []  # every `step` the run reported, in order


@pytest.fixture(scope="module")
def result(
    dataset: tuple[Path, dict[str, Any]], local_ray: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    root, _ = dataset
    job_dir = tmp_path_factory.mktemp("job")
    context = JobContext.from_env({"PARK_JOB_DIR": str(job_dir), "PARK_JOB_NAME": "data-test"})
    report = JobContext.report

    def recording(self: JobContext, **fields: Any) -> dict[str, Any]:
        if "step" in fields:
            STEPS.append(str(fields["step"]))
        return report(self, **fields)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobContext, "report", recording)
        return run(DataParams(input=str(root), **PARAMS), context)


def test_the_steps_reported_are_the_ones_the_docs_list(result: dict[str, Any]) -> None:
    docs = (REPO / "docs" / "workloads-data.md").read_text()
    (row,) = [line for line in docs.splitlines() if line.startswith("| `step` |")]
    documented = re.findall(r"`([^`]+)`", row.split("|")[2])
    seen = list(dict.fromkeys(re.sub(r"/(text|image|audio)$", "/<m>", step) for step in STEPS))
    assert seen == documented
    assert result["step"] == documented[-1]


def test_every_stage_count_is_exact(result: dict[str, Any], dataset: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = dataset
    want = expected_counts(
        manifest, chunk_words=PARAMS["text_chunk_words"], window_s=PARAMS["audio_window_s"]
    )
    for stage, row in result["stages"].items():
        assert row == {
            **{m: want[m][stage] for m in MODALITIES},
            "total": sum(want[m][stage] for m in MODALITIES),
        }
    assert list(result["stages"]) == list(want["text"])  # every stage, in pipeline order
    assert result["state"] == "Succeeded"
    assert result["skippedFiles"] == 1  # the manifest
    assert result["embeddingDim"] == DIMS


def test_corrupt_files_are_reported_by_reason(
    result: dict[str, Any], dataset: tuple[Path, dict[str, Any]]
) -> None:
    root, manifest = dataset
    for m in MODALITIES:
        planted = Counter(
            r["reason"] for r in manifest["records"] if r["modality"] == m and r["kind"] == "corrupt"
        )
        assert result["invalidReasons"][m] == dict(planted)
    corrupt = {str(root / r["path"]) for r in manifest["records"] if r["kind"] == "corrupt"}
    examples = [path for paths in result["invalidExamples"].values() for path in paths]
    assert set(examples) == corrupt
    assert result["invalidReasons"]["total"] == {
        "bad_encoding": 1,
        "bad_json": 1,
        "missing_text": 1,
        "empty_file": 2,
        "truncated": 2,
        "undecodable": 2,
    }


def test_the_report_file_is_what_the_platform_reads(result: dict[str, Any]) -> None:
    on_disk = json.loads((Path(result["output"]).parent / "report.json").read_text())
    assert on_disk["stages"] == result["stages"]
    assert on_disk["done"] is True


def test_parquet_output_has_the_schema_and_unit_embeddings(result: dict[str, Any]) -> None:
    table = pq.read_table(result["output"])
    assert table.schema.remove_metadata() == OUTPUT_SCHEMA.remove_metadata()
    assert table.num_rows == result["stages"]["written"]["total"]
    assert len(set(table.column("id").to_pylist())) == table.num_rows
    for m in MODALITIES:
        part = table.filter(pa.compute.equal(table.column("modality"), m))
        vectors = np.array(part.column("embedding").to_pylist(), dtype=np.float32)
        assert vectors.shape == (result["stages"]["written"][m], DIMS[m])
        assert set(part.column("embedding_dim").to_pylist()) == {DIMS[m]}
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    one = table.slice(0, 1).to_pylist()[0]
    assert one["source_sha256"] == hashlib.sha256(Path(one["source_path"]).read_bytes()).hexdigest()


def test_exactly_one_record_of_each_near_duplicate_group_is_kept(
    result: dict[str, Any], dataset: tuple[Path, dict[str, Any]]
) -> None:
    root, manifest = dataset
    group = {
        (str(root / r["path"]), r["index"]): (r["modality"], r["group"])
        for r in manifest["records"]
        if r["kind"] != "corrupt"
    }
    table = pq.read_table(result["output"], columns=["source_path", "record_index", "chunk_index"])
    rows = zip(*(table.column(n).to_pylist() for n in table.column_names), strict=True)
    kept = Counter(group[(path, index)] for path, index, chunk in rows if chunk == 0)
    originals = {(r["modality"], r["group"]) for r in manifest["records"] if r["kind"] == "original"}
    assert set(kept) == originals
    assert set(kept.values()) == {1}
