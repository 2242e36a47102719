"""The CPU stages as Ray Data batch functions: numpy batches of `{"bytes", "path"}` rows in.

Two passes read the input (see `pipeline`): `fingerprint_*` (decode, validate, fingerprint; one row per
record, valid or not, with no payload) and `prepare_*` (decode again, skip invalid records and dropped
near-duplicates, normalize, chunk; one row per chunk, with the model input as a fixed-shape array).
They are plain functions of a batch, so unit tests call them without Ray.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from park.workloads.data import curate, normalize
from park.workloads.data.decode import (
    TARGET_SAMPLE_RATE,
    Invalid,
    decode_audio,
    decode_image,
    decode_text_file,
)

Batch = dict[str, np.ndarray]
OK = "ok"


@dataclass(frozen=True)
class Settings:
    """What the stages need from the parameters (picklable: it travels with every task)."""

    image_size: int = 224
    text_chunk_words: int = 128
    audio_window: int = TARGET_SAMPLE_RATE  # samples


SIGNATURES: dict[str, tuple[tuple[int, ...], type[np.generic]]] = {
    "text": ((curate.NUM_PERM,), np.uint32),
    "image": ((curate.THUMB_DIM,), np.float32),
    "audio": ((curate.AUDIO_DIM,), np.float32),
}


@dataclass
class _Fingerprints:
    """One row per record, valid or not: invalid rows carry their reason and a zero signature."""

    modality: str
    paths: list[str] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    signatures: list[np.ndarray] = field(default_factory=list)

    def add(self, path: str, index: int, status: str, chunks: int, signature: np.ndarray | None) -> None:
        shape, dtype = SIGNATURES[self.modality]
        self.paths.append(path)
        self.indexes.append(index)
        self.statuses.append(status)
        self.chunks.append(chunks)
        self.signatures.append(np.zeros(shape, dtype) if signature is None else signature)

    def invalid(self, path: str, item: Invalid) -> None:
        self.add(path, item.index, item.reason, 0, None)

    def batch(self) -> Batch:
        shape, dtype = SIGNATURES[self.modality]
        signatures = np.stack(self.signatures).astype(dtype) if self.paths else np.zeros((0, *shape), dtype)
        band = curate.minhash_bands if self.modality == "text" else curate.simhash_bands
        bands = [band(s) for s in signatures]
        return {
            "path": np.array(self.paths, dtype=object),
            "record_index": np.array(self.indexes, dtype=np.int64),
            "status": np.array(self.statuses, dtype=object),
            "chunks": np.array(self.chunks, dtype=np.int64),
            "signature": signatures,
            "bands": np.stack(bands) if bands else np.zeros((0, curate.BANDS), np.uint64),
        }


def empty_fingerprints(modality: str) -> Batch:
    return _Fingerprints(modality).batch()


def fingerprint_text(batch: Batch, *, settings: Settings) -> Batch:
    out = _Fingerprints("text")
    for data, path in zip(batch["bytes"], batch["path"], strict=True):
        for item in decode_text_file(bytes(data)):
            if isinstance(item, Invalid):
                out.invalid(path, item)
            else:
                chunks = normalize.text_chunk_count(len(item.text.split()), settings.text_chunk_words)
                out.add(path, item.index, OK, chunks, curate.minhash(item.text))
    return out.batch()


def fingerprint_image(batch: Batch, *, settings: Settings) -> Batch:
    out = _Fingerprints("image")
    for data, path in zip(batch["bytes"], batch["path"], strict=True):
        item = decode_image(bytes(data))
        if isinstance(item, Invalid):
            out.invalid(path, item)
        else:
            out.add(path, 0, OK, 1, curate.colour_thumbnail(item.pixels))
    return out.batch()


def fingerprint_audio(batch: Batch, *, settings: Settings) -> Batch:
    out = _Fingerprints("audio")
    for data, path in zip(batch["bytes"], batch["path"], strict=True):
        item = decode_audio(bytes(data))
        if isinstance(item, Invalid):
            out.invalid(path, item)
        else:
            chunks = normalize.audio_chunk_count(len(item.samples), settings.audio_window)
            out.add(path, 0, OK, chunks, curate.spectral_fingerprint(item.samples))
    return out.batch()


_META = ("path", "sha256", "record_index", "chunk_index", "num_chunks")
_EXTRA: dict[str, dict[str, Any]] = {
    "text": {"text": object},
    "image": {"width": np.int64, "height": np.int64},
    "audio": {"length": np.int64, "sample_rate": np.int64, "channels": np.int64},
}


@dataclass
class _Chunks:
    """Chunk rows to columns; the model input is one stacked fixed-shape array (zero-copy later)."""

    modality: str
    settings: Settings
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, path: str, digest: str, index: int, chunk: int, chunks: int, **extra: Any) -> None:
        self.rows.append(dict(zip(_META, (path, digest, index, chunk, chunks), strict=True)) | extra)

    def array_spec(self) -> tuple[str, tuple[int, ...], type[np.generic]] | None:
        if self.modality == "image":
            return "image", (self.settings.image_size, self.settings.image_size, 3), np.uint8
        if self.modality == "audio":
            return "audio", (self.settings.audio_window,), np.float32
        return None

    def batch(self) -> Batch:
        rows = self.rows
        out: Batch = {
            k: np.array([r[k] for r in rows], dtype=object if k in _META[:2] else np.int64) for k in _META
        }
        out["modality"] = np.full(len(rows), self.modality, dtype=object)  # the embedder dispatches on it
        for key, dtype in _EXTRA[self.modality].items():
            out[key] = np.array([r[key] for r in rows], dtype=dtype)
        spec = self.array_spec()
        if spec is not None:
            key, shape, dtype = spec
            out[key] = (
                np.stack([r[key] for r in rows]).astype(dtype, copy=False)
                if rows
                else np.zeros((0, *shape), dtype)
            )
        return out


def _files(batch: Batch) -> Iterator[tuple[str, bytes, str]]:
    for data, path in zip(batch["bytes"], batch["path"], strict=True):
        raw = bytes(data)
        yield path, raw, hashlib.sha256(raw).hexdigest()


def prepare_text(batch: Batch, *, settings: Settings, drop: frozenset[curate.RecordKey]) -> Batch:
    out = _Chunks("text", settings)
    for path, raw, digest in _files(batch):
        for item in decode_text_file(raw):
            if isinstance(item, Invalid) or (path, item.index) in drop:
                continue
            chunks = normalize.chunk_text(item.text, settings.text_chunk_words)
            for n, text in enumerate(chunks):
                out.add(path, digest, item.index, n, len(chunks), text=text)
    return out.batch()


def prepare_image(batch: Batch, *, settings: Settings, drop: frozenset[curate.RecordKey]) -> Batch:
    out = _Chunks("image", settings)
    for path, raw, digest in _files(batch):
        item = decode_image(raw)
        if isinstance(item, Invalid) or (path, 0) in drop:
            continue
        image = normalize.square_image(item.pixels, settings.image_size)
        out.add(path, digest, 0, 0, 1, image=image, width=item.width, height=item.height)
    return out.batch()


def prepare_audio(batch: Batch, *, settings: Settings, drop: frozenset[curate.RecordKey]) -> Batch:
    out = _Chunks("audio", settings)
    for path, raw, digest in _files(batch):
        item = decode_audio(raw)
        if isinstance(item, Invalid) or (path, 0) in drop:
            continue
        chunks = normalize.chunk_audio(item.samples, settings.audio_window)
        for n, (samples, length) in enumerate(zip(chunks.windows, chunks.lengths, strict=True)):
            extra = {"audio": samples, "length": int(length), "sample_rate": item.source_rate}
            out.add(path, digest, 0, n, len(chunks.windows), channels=item.channels, **extra)
    return out.batch()


FINGERPRINT: dict[str, Callable[..., Batch]] = {
    "text": fingerprint_text,
    "image": fingerprint_image,
    "audio": fingerprint_audio,
}
PREPARE: dict[str, Callable[..., Batch]] = {
    "text": prepare_text,
    "image": prepare_image,
    "audio": prepare_audio,
}
