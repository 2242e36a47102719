"""The pipeline's pieces without Ray: batch stages on a generated data set, chunking, output rows,
counts, parameters, resource planning."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from park.core.errors import InvalidError
from park.workloads.data import normalize, stages
from park.workloads.data.embed import Embedder, plan_embedding
from park.workloads.data.params import DEFAULT_THRESHOLDS, DataParams
from park.workloads.data.report import StageCounts
from park.workloads.data.schema import OUTPUT_SCHEMA, output_table
from park.workloads.data.sources import check_output, list_sources
from park.workloads.datagen import generate

SETTINGS = stages.Settings(image_size=64, text_chunk_words=16, audio_window=8000)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("mixed")
    return out, generate(out, items=40, corrupt=3, seed=11)


def _batch(paths: list[str]) -> dict[str, np.ndarray]:
    """What `ray.data.read_binary_files(..., include_paths=True)` hands a batch function."""
    return {
        "bytes": np.array([Path(p).read_bytes() for p in paths], dtype=object),
        "path": np.array(paths, dtype=object),
    }


def test_sources_are_split_by_extension_skipping_hidden_files(dataset: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = dataset
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_bytes(b"")
    (root / "_SUCCESS").write_bytes(b"")
    sources = list_sources(str(root))
    expected = Counter(r["modality"] for r in {r["path"]: r for r in manifest["records"]}.values())
    assert {m: len(files) for m, files in sources.files.items()} == dict(expected)
    assert [Path(p).name for p in sources.skipped] == ["manifest.json"]
    assert list_sources(sources.files["audio"][0]).files["audio"] == sources.files["audio"][:1]
    with pytest.raises(InvalidError, match="does not exist"):
        list_sources(str(root / "missing"))


def test_fingerprint_stage_has_one_row_per_record(dataset: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = dataset
    sources = list_sources(str(root))
    for modality in ("text", "image", "audio"):
        out = stages.FINGERPRINT[modality](_batch(sources.files[modality]), settings=SETTINGS)
        records = [r for r in manifest["records"] if r["modality"] == modality]
        assert len(out["status"]) == len(records)
        want = Counter(r.get("reason", stages.OK) for r in records)
        assert Counter(out["status"].tolist()) == want
        assert out["signature"].shape[0] == out["bands"].shape[0] == len(records)
        assert out["bands"].dtype == np.uint64
        assert (out["chunks"][out["status"] != stages.OK] == 0).all()


def test_empty_batches_keep_their_columns() -> None:
    for modality in ("text", "image", "audio"):
        empty = _batch([])
        fingerprints = stages.FINGERPRINT[modality](empty, settings=SETTINGS)
        assert fingerprints.keys() == stages.empty_fingerprints(modality).keys()
        chunks = stages.PREPARE[modality](empty, settings=SETTINGS, drop=frozenset())
        assert all(len(v) == 0 for v in chunks.values())


def test_prepare_stage_chunks_kept_records_and_skips_the_rest(dataset: tuple[Path, dict[str, Any]]) -> None:
    root, _ = dataset
    sources = list_sources(str(root))
    texts = sources.files["text"]
    first = texts[0]
    drop = frozenset({(first, 0)})
    out = stages.prepare_text(_batch(texts), settings=SETTINGS, drop=drop)
    assert (first, 0) not in set(zip(out["path"], out["record_index"], strict=True))
    assert max(len(t.split()) for t in out["text"]) <= SETTINGS.text_chunk_words
    assert out["sha256"][0] == hashlib.sha256(Path(out["path"][0]).read_bytes()).hexdigest()

    images = stages.prepare_image(_batch(sources.files["image"]), settings=SETTINGS, drop=frozenset())
    assert images["image"].shape[1:] == (64, 64, 3)
    assert images["image"].dtype == np.uint8

    audio = stages.prepare_audio(_batch(sources.files["audio"]), settings=SETTINGS, drop=frozenset())
    assert audio["audio"].shape[1:] == (8000,)
    assert audio["audio"].dtype == np.float32
    assert (audio["length"] <= 8000).all()
    assert (audio["chunk_index"] < audio["num_chunks"]).all()


def test_chunk_counts_agree_with_chunking() -> None:
    for words in (1, 15, 16, 17, 100):
        text = " ".join(f"w{i}" for i in range(words))
        assert len(normalize.chunk_text(text, 16)) == normalize.text_chunk_count(words, 16)
    for samples in (100, 7999, 8000, 8001, 20000):
        chunks = normalize.chunk_audio(np.ones(samples, np.float32), 8000)
        assert len(chunks.windows) == normalize.audio_chunk_count(samples, 8000)
        assert int(chunks.lengths.sum()) == samples
        assert chunks.windows[-1, chunks.lengths[-1] :].sum() == 0  # zero padding


def test_square_image_crops_the_centre() -> None:
    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[:, 20:60] = 255  # the centre square is white, the sides black
    out = normalize.square_image(pixels, 32)
    assert out.shape == (32, 32, 3)
    assert out.min() > 240


def test_output_rows_follow_the_schema() -> None:
    batch = {
        "path": np.array(["/d/a.wav", "/d/a.wav"], dtype=object),
        "sha256": np.array(["ab" * 32] * 2, dtype=object),
        "record_index": np.array([0, 0]),
        "chunk_index": np.array([0, 1]),
        "num_chunks": np.array([2, 2]),
        "audio": np.zeros((2, 16000), np.float32),
        "length": np.array([16000, 4000]),
        "sample_rate": np.array([44100, 44100]),
        "channels": np.array([2, 2]),
    }
    embeddings = np.eye(2, 256, dtype=np.float32)
    table = output_table("audio", batch, embeddings, scheme="s3://")
    assert table.schema == OUTPUT_SCHEMA
    rows = table.to_pylist()
    assert rows[1]["id"] == f"{'ab' * 8}:0:1"
    assert rows[1]["source_path"] == "s3:///d/a.wav"
    assert (rows[1]["start_s"], rows[1]["duration_s"], rows[1]["embedding_dim"]) == (1.0, 0.25, 256)
    assert rows[0]["text"] is None and rows[0]["width"] is None
    assert np.allclose(
        table.column("embedding").combine_chunks().flatten().to_numpy().reshape(2, 256), embeddings
    )
    assert json.loads(OUTPUT_SCHEMA.metadata[b"park.embedding_dims"]) == {
        "text": 384,
        "image": 1280,
        "audio": 256,
    }
    assert OUTPUT_SCHEMA.field("embedding").type == pa.list_(pa.float32())


def test_stage_counts_report_totals_in_pipeline_order() -> None:
    counts = StageCounts(modalities=("text", "image"))
    counts.set("decoded", "text", 5)
    counts.set("read", "text", 2)
    counts.set("read", "image", 3)
    counts.set_invalid("image", {"truncated": 1, "empty_file": 2})
    assert list(counts.stages()) == ["read", "decoded", "invalid"]
    assert counts.stages()["read"] == {"text": 2, "image": 3, "total": 5}
    assert counts.invalid_reasons() == {
        "text": {},
        "image": {"empty_file": 2, "truncated": 1},
        "total": {"empty_file": 2, "truncated": 1},
    }
    assert counts.line("image") == "image: read 3, invalid 3"
    with pytest.raises(ValueError, match="unknown stage"):
        counts.set("bogus", "text", 1)


def test_parameters_and_thresholds() -> None:
    params = DataParams(input="/data")
    assert params.threshold("image") == DEFAULT_THRESHOLDS["image"]
    assert DataParams(input="/d", dedup_threshold=0.9).threshold("audio") == 0.9
    assert DataParams(input="/d", dedup_threshold={"text": 0.7}).threshold("text") == 0.7
    assert DataParams(input="/d", audio_window_s=0.5).settings().audio_window == 8000
    with pytest.raises(ValueError, match="extra"):
        DataParams.model_validate({"input": "/d", "batchsize": 3})


def test_embedding_asks_for_gpus_when_the_cluster_has_them() -> None:
    gpu = plan_embedding({"CPU": 16, "GPU": 4})
    assert (gpu.num_gpus, gpu.max_actors, gpu.device) == (1, 4, "cuda")
    cpu = plan_embedding({"CPU": 8})
    assert (cpu.num_gpus, cpu.num_cpus, cpu.max_actors, cpu.device) == (0, 1, 7, "cpu")
    assert plan_embedding({"CPU": 2}).max_actors == 1
    assert plan_embedding({"CPU": 16, "GPU": 4}, use_gpu=False).num_gpus == 0
    assert plan_embedding({"CPU": 16, "GPU": 4}, max_actors=2).max_actors == 2
    with pytest.raises(InvalidError, match="no GPU"):
        plan_embedding({"CPU": 2}, use_gpu=True)


def test_an_output_of_parquet_files_only_may_be_replaced(tmp_path: Path) -> None:
    check_output(str(tmp_path / "new"))
    (tmp_path / "old" / "text").mkdir(parents=True)
    (tmp_path / "old" / "text" / "part-0.parquet").write_bytes(b"")
    check_output(str(tmp_path / "old"))
    (tmp_path / "old" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidError, match="other files than Parquet"):
        check_output(str(tmp_path / "old"))
    with pytest.raises(InvalidError, match="is a file"):
        check_output(str(tmp_path / "old" / "notes.txt"))


def test_the_embedder_handles_any_modality_block_in_model_batches(
    dataset: tuple[Path, dict[str, Any]],
) -> None:
    """No Ray needed: the actor class is a plain class (here with the small CREPE model)."""
    root, _ = dataset
    files = list_sources(str(root)).files["audio"]
    block = stages.prepare_audio(_batch(files), settings=SETTINGS, drop=frozenset())
    table = Embedder(batch_size=3)(block)
    assert table.schema == OUTPUT_SCHEMA
    assert table.num_rows == len(block["path"]) > 3
    assert set(table.column("modality").to_pylist()) == {"audio"}
    assert (
        Embedder(batch_size=3)(stages.prepare_audio(_batch([]), settings=SETTINGS, drop=frozenset())).num_rows
        == 0
    )
