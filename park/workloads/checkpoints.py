"""Where checkpoints live: local directories or pyarrow/fsspec URIs (PARK_CHECKPOINT_DIR may be either).

Local paths are handled with pathlib; URIs go through Ray's `Checkpoint`, which downloads on demand.
Finding the newest checkpoint by scanning is done for local directories only; for remote storage the
platform's record (PARK_RESUME_FROM) is the source of truth.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from park.workloads.artifacts import is_uri
from park.workloads.models.charlm import META_FILE, MODEL_FILE, CheckpointFormatError, read_meta


@contextlib.contextmanager
def local_dir(path: str) -> Iterator[Path]:
    """A local directory with the checkpoint's files (a temporary download for URIs)."""
    if not is_uri(path):
        local = Path(path)
        if not local.is_dir():
            raise FileNotFoundError(f"checkpoint {path} is not a directory")
        yield local
        return
    from ray.train import Checkpoint  # noqa: PLC0415 - only remote checkpoints need Ray

    with Checkpoint(path).as_directory() as directory:
        yield Path(directory)


def write_text(path: str, text: str) -> None:
    """Write one small file next to a checkpoint (local or remote)."""
    if not is_uri(path):
        Path(path).write_text(text, encoding="utf-8")
        return
    from ray.train import Checkpoint  # noqa: PLC0415

    parent, _, name = path.rpartition("/")
    checkpoint: Any = Checkpoint(parent)
    with checkpoint.filesystem.open_output_stream(f"{checkpoint.path}/{name}") as stream:
        stream.write(text.encode("utf-8"))


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
