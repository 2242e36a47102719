"""Training checkpoints: a `park.charlm/v1` model directory plus the optimizer state, and when to write one.

A training checkpoint is loadable by serving and eval as a plain model directory; `train_state.pt`
adds what only training needs. The step counter is the whole data position and RNG state (see
`batches`), so `step` in `charlm.json` is all a resumed run needs besides weights and optimizer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab, read_meta, save_charlm

TRAIN_STATE_FILE = "train_state.pt"


def checkpoint_dir_name(step: int) -> str:
    return f"checkpoint_{step:08d}"


def save_train_checkpoint(
    directory: Path,
    *,
    model: CharLM,
    optimizer: torch.optim.Optimizer,
    vocab: CharVocab,
    step: int,
    loss: float,
    extra: dict[str, Any],
) -> None:
    save_charlm(directory, model, vocab, step=step, loss=loss, **extra)
    torch.save({"optimizer": optimizer.state_dict(), "step": step}, directory / TRAIN_STATE_FILE)


def restore_train_state(
    directory: Path, *, model: CharLM, optimizer: torch.optim.Optimizer, device: torch.device
) -> int:
    """Load weights and optimizer state into `model` and `optimizer`; return the step to continue from."""
    meta = read_meta(directory)
    saved = CharLMConfig.from_dict(meta["config"])
    if saved != model.config:
        raise ValueError(f"checkpoint {directory} has model {saved}, this run builds {model.config}")
    weights = torch.load(directory / "model.pt", map_location=device, weights_only=True)
    model.load_state_dict(weights)
    state = torch.load(directory / TRAIN_STATE_FILE, map_location=device, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"])


class CheckpointPolicy:
    """Checkpoint at multiples of `every_steps` and/or every `every_seconds` seconds, whichever is first."""

    def __init__(
        self,
        *,
        every_steps: int | None,
        every_seconds: float | None,
        start_step: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._every_steps = every_steps
        self._every_seconds = every_seconds
        self._clock = clock
        self.mark(start_step)

    def mark(self, step: int) -> None:
        self._last_step = step
        self._last_time = self._clock()

    def due(self, step: int) -> bool:
        if step <= self._last_step:
            return False
        # Aligned to multiples of every_steps, so a resumed run checkpoints at the same steps.
        every = self._every_steps
        by_steps = every is not None and step // every > self._last_step // every
        by_time = self._every_seconds is not None and self._clock() - self._last_time >= self._every_seconds
        return by_steps or by_time
