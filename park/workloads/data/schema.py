"""The Parquet schema the `data` workload writes: one row per embedded chunk, every modality alike.

| column | type | meaning |
| --- | --- | --- |
| id | string | `<source_sha256[:16]>:<record_index>:<chunk_index>`, stable across runs |
| modality | string | text, image or audio |
| source_path | string | the file the record came from (a URI when the input was one) |
| source_sha256 | string | sha256 of that file's bytes |
| record_index | int32 | line of a JSONL file (from 0); 0 for images and audio |
| chunk_index, num_chunks | int32 | which chunk of the record this row is, of how many |
| text | string | text: the chunk's text; null otherwise |
| width, height | int32 | images: size of the source image; null otherwise |
| sample_rate, channels | int32 | audio: of the source file (the model saw 16 kHz mono); null otherwise |
| start_s, duration_s | float32 | audio: where the chunk starts in the clip, and how much sound it holds |
| embedding | list<float32> | unit length; 384 values for text, 1280 for images, 256 for audio |
| embedding_dim | int32 | the length of `embedding` |
| embedder | string | the model that made it (see `park.workloads.data.models`) |

The per-modality widths are also in the schema metadata (`park.embedding_dims`, JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from park.workloads.data.decode import TARGET_SAMPLE_RATE


@dataclass(frozen=True)
class EmbedderInfo:
    name: str
    dim: int


# The models themselves live in `models` (torch is imported only where they run).
MODELS = {
    "text": EmbedderInfo("sentence-transformers/all-MiniLM-L6-v2", 384),
    "image": EmbedderInfo("efficientnet-lite0/imagenet", 1280),
    "audio": EmbedderInfo("crepe-tiny", 256),
}

OUTPUT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("modality", pa.string()),
        ("source_path", pa.string()),
        ("source_sha256", pa.string()),
        ("record_index", pa.int32()),
        ("chunk_index", pa.int32()),
        ("num_chunks", pa.int32()),
        ("text", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("sample_rate", pa.int32()),
        ("channels", pa.int32()),
        ("start_s", pa.float32()),
        ("duration_s", pa.float32()),
        ("embedding", pa.list_(pa.float32())),
        ("embedding_dim", pa.int32()),
        ("embedder", pa.string()),
    ],
    metadata={"park.embedding_dims": json.dumps({m: info.dim for m, info in MODELS.items()})},
)


def _embedding_column(embeddings: np.ndarray) -> pa.Array:
    """(n, dim) float32 -> list<float32> over the same buffer (no copy of the values)."""
    n, dim = embeddings.shape
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(embeddings).ravel()))


def output_table(
    modality: str, batch: dict[str, np.ndarray], embeddings: np.ndarray, *, scheme: str = ""
) -> pa.Table:
    """The output rows for one embedded batch of chunks (`stages.prepare_*` columns)."""
    n = len(embeddings)
    digests = [str(d) for d in batch["sha256"]]
    records, chunks = batch["record_index"], batch["chunk_index"]
    nulls = pa.nulls(n)
    columns: dict[str, pa.Array | list[object]] = {
        "id": [f"{d[:16]}:{r}:{c}" for d, r, c in zip(digests, records, chunks, strict=True)],
        "modality": [modality] * n,
        "source_path": [f"{scheme}{p}" for p in batch["path"]],
        "source_sha256": digests,
        "record_index": records,
        "chunk_index": chunks,
        "num_chunks": batch["num_chunks"],
        "text": batch["text"] if modality == "text" else nulls,
        "width": batch["width"] if modality == "image" else nulls,
        "height": batch["height"] if modality == "image" else nulls,
        "sample_rate": batch["sample_rate"] if modality == "audio" else nulls,
        "channels": batch["channels"] if modality == "audio" else nulls,
        "start_s": chunks * (batch["audio"].shape[1] / TARGET_SAMPLE_RATE) if modality == "audio" else nulls,
        "duration_s": batch["length"] / TARGET_SAMPLE_RATE if modality == "audio" else nulls,
        "embedding": _embedding_column(embeddings),
        "embedding_dim": [embeddings.shape[1]] * n,
        "embedder": [MODELS[modality].name] * n,
    }
    arrays = [
        col if isinstance(col, pa.Array) else pa.array(col, type=field.type)
        for col, field in zip(columns.values(), OUTPUT_SCHEMA, strict=True)
    ]
    return pa.Table.from_arrays(
        [a.cast(f.type) for a, f in zip(arrays, OUTPUT_SCHEMA, strict=True)], schema=OUTPUT_SCHEMA
    )
