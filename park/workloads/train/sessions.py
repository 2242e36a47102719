"""The seam between the training loop and what runs it: Ray Train workers, or one plain process.

`RaySession` is what `TorchTrainer` workers use. `LocalSession` runs the very same loop in the current
process without Ray (unit tests, and the benchmark's "directly in one process" baseline).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn


class Session(Protocol):
    rank: int
    world_size: int
    device: torch.device

    def restored_checkpoint(self) -> AbstractContextManager[Path] | None:
        """The runner's own checkpoint to restart from (a restart within this attempt), if any."""

    def prepare(self, model: nn.Module) -> nn.Module:
        """The module to train (data parallel where there is more than one worker)."""

    def all_reduce(self, tensor: Tensor) -> Tensor:
        """Sum `tensor` over all workers (every worker must call this at the same steps)."""

    def report(self, metrics: dict[str, Any], *, checkpoint: Path | None, name: str) -> None:
        """Hand metrics and a checkpoint directory (rank 0 only) to the runner; a barrier."""


class RaySession:
    """Inside a Ray Train V2 worker (`TorchTrainer` has set up torch.distributed already)."""

    def __init__(self) -> None:
        import ray.train  # noqa: PLC0415 - workers only
        import ray.train.torch  # noqa: PLC0415

        self._train = ray.train
        self._torch = ray.train.torch
        context = ray.train.get_context()
        self.rank: int = context.get_world_rank()
        self.world_size: int = context.get_world_size()
        self.device: torch.device = ray.train.torch.get_device()

    def restored_checkpoint(self) -> AbstractContextManager[Path] | None:
        checkpoint = self._train.get_checkpoint()
        return None if checkpoint is None else _as_path(checkpoint.as_directory())

    def prepare(self, model: nn.Module) -> nn.Module:
        prepared: nn.Module = self._torch.prepare_model(model)
        return prepared

    def all_reduce(self, tensor: Tensor) -> Tensor:
        if self.world_size > 1:
            torch.distributed.all_reduce(tensor)
        return tensor

    def report(self, metrics: dict[str, Any], *, checkpoint: Path | None, name: str) -> None:
        if checkpoint is None:
            self._train.report(metrics)
            return
        self._train.report(
            metrics,
            checkpoint=self._train.Checkpoint.from_directory(str(checkpoint)),
            checkpoint_dir_name=name,
        )


@contextlib.contextmanager
def _as_path(manager: AbstractContextManager[str]) -> Iterator[Path]:
    with manager as directory:
        yield Path(directory)


class LocalSession:
    """One process, rank 0 of 1: checkpoints are copied to `run_dir/<name>` like Ray's storage does."""

    def __init__(self, run_dir: Path, *, device: torch.device | None = None) -> None:
        self.rank = 0
        self.world_size = 1
        self.device = device or torch.device("cpu")
        self.run_dir = run_dir
        self.reports: list[dict[str, Any]] = []

    def restored_checkpoint(self) -> AbstractContextManager[Path] | None:
        return None

    def prepare(self, model: nn.Module) -> nn.Module:
        return model

    def all_reduce(self, tensor: Tensor) -> Tensor:
        return tensor

    def report(self, metrics: dict[str, Any], *, checkpoint: Path | None, name: str) -> None:
        if checkpoint is not None:
            shutil.copytree(checkpoint, self.run_dir / name, dirs_exist_ok=True)
        self.reports.append(metrics)
