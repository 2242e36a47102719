"""Where checkpoints live: local directories or pyarrow/fsspec URIs (PARK_CHECKPOINT_DIR may be either).

Local paths are handled with pathlib; URIs are downloaded through `park.workloads.artifacts`.
Finding the newest checkpoint by scanning is done for local directories only; for remote storage the
platform's record (PARK_RESUME_FROM) is the source of truth.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from park.workloads import artifacts
from park.workloads.artifacts import is_uri
from park.workloads.models.charlm import META_FILE, MODEL_FILE, CheckpointFormatError, read_meta


@contextlib.contextmanager
def local_dir(path: str) -> Iterator[Path]:
    """A local directory with the checkpoint's files (a temporary download for URIs)."""
    if not is_uri(path):
        yield local_path(path)
        return
    with tempfile.TemporaryDirectory(prefix="park-checkpoint-") as directory:
        artifacts.download_dir(path, Path(directory))
        yield Path(directory)


def cached_local_dir(path: str, cache: Path | None = None) -> Path:
    """A local directory with the checkpoint's files that outlives the call (serving keeps reading it).

    A URI is downloaded once per machine and kept: a checkpoint never changes once written, so the URI
    names its content. Replicas that start together each download to their own temporary directory and
    the first rename wins.
    """
    if not is_uri(path):
        return local_path(path)
    root = cache or Path(tempfile.gettempdir()) / "park-checkpoints"
    final = root / hashlib.sha256(path.encode()).hexdigest()[:24]
    if final.is_dir():
        return final
    partial = root / f".{final.name}.{uuid.uuid4().hex[:8]}"
    artifacts.download_dir(path, partial)
    try:
        os.rename(partial, final)
    except OSError:  # another replica finished first
        shutil.rmtree(partial, ignore_errors=True)
        if not final.is_dir():
            raise
    return final


def local_path(path: str) -> Path:
    local = Path(path)
    if not local.is_dir():
        raise FileNotFoundError(f"checkpoint {path} is not a directory")
    return local


def write_text(path: str, text: str) -> None:
    """Write one small file next to a checkpoint (local or remote)."""
    if not is_uri(path):
        Path(path).write_text(text, encoding="utf-8")
        return
    artifacts.write_bytes(path, text.encode("utf-8"))


def latest_checkpoint(root: str) -> str | None:
    """The newest model directory under `root` (highest step, then newest), or None."""
    if is_uri(root) or not Path(root).is_dir():
        return None
    best: tuple[int, float, str] | None = None
    for meta_path in Path(root).rglob(META_FILE):
        if not (meta_path.parent / MODEL_FILE).is_file():
            continue  # a copy that was cut short
        try:
            step = int(read_meta(meta_path.parent).get("step", 0))
        except (CheckpointFormatError, TypeError, ValueError):
            continue
        key = (step, meta_path.stat().st_mtime, str(meta_path.parent))
        best = key if best is None or key > best else best
    return None if best is None else best[2]
