"""The per-worker training loop (`train_loop_per_worker` of the `TorchTrainer`).

Every step all workers sum one small tensor: (loss, preemption requested, checkpoint due). That keeps
them in lockstep on the two decisions that end in `ray.train.report` (a barrier every worker must reach
the same number of times): a worker that saw the preemption marker one step earlier than another, or
rank 0's wall-clock checkpoint timer, would otherwise leave a worker waiting in a collective forever.

Progress goes to the job's report.json straight from rank 0 (`JobContext.report`). That relies on rank 0
sharing a filesystem with PARK_JOB_DIR, which holds in embedded mode (one machine); on a multi-node
cluster the driver's report at the end (and Ray's persisted checkpoints) still arrive.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from park.workloads.artifacts import join
from park.workloads.checkpoints import local_dir
from park.workloads.contract import JobContext, Preemption
from park.workloads.models.charlm import CharLM, CharVocab, lm_loss, read_meta
from park.workloads.train.batches import get_batch, lr_at, stream_seed
from park.workloads.train.checkpointing import (
    CheckpointPolicy,
    checkpoint_dir_name,
    restore_train_state,
    save_train_checkpoint,
)
from park.workloads.train.params import TrainParams
from park.workloads.train.sessions import RaySession, Session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker needs, shipped once through `train_loop_config` (no shared filesystem needed)."""

    params: TrainParams
    context: JobContext
    tokens: Tensor  # the training split, int32
    vocab: str
    run_dir: str  # where this attempt's checkpoints are persisted
    resume_from: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)  # written into every checkpoint


def train_loop_per_worker(config: dict[str, Any]) -> None:
    TrainRun(config["setup"], RaySession()).run()


class TrainRun:
    def __init__(
        self, setup: WorkerSetup, session: Session, *, stop_requested: Callable[[], bool] | None = None
    ) -> None:
        params = setup.params
        self.setup, self.params, self.session = setup, params, session
        self.vocab = CharVocab(setup.vocab)
        self.tokens = setup.tokens.long()
        self.stop_requested = stop_requested or Preemption(setup.context).requested
        torch.manual_seed(params.seed)
        self.model = CharLM(params.charlm_config(vocab_size=len(self.vocab))).to(session.device)
        self.optimizer = _adamw(self.model, params)
        self.loss = math.nan
        self.restored_from: str | None = None
        self.start_step = self.step = self._restore()
        self.module = session.prepare(self.model)
        self.policy = CheckpointPolicy(
            every_steps=params.checkpoint_every_steps,
            every_seconds=params.checkpoint_every_seconds,
            start_step=self.step,
        )
        self._window = (self.step, time.perf_counter())  # progress since the last log line
        self._steady: tuple[int, float] | None = None  # from the end of the first step (warm-up excluded)

    def _restore(self) -> int:
        source = self.session.restored_checkpoint()  # Ray's restart of this attempt's worker group
        from_ray = source is not None
        if source is None and self.setup.resume_from:
            source = local_dir(self.setup.resume_from)
        if source is None:
            return 0
        with source as directory:
            step = restore_train_state(
                directory, model=self.model, optimizer=self.optimizer, device=self.session.device
            )
            self.loss = float(read_meta(directory).get("loss", math.nan))
        # Ray restores one of this attempt's own checkpoints, which are named by their step.
        self.restored_from = (
            join(self.setup.run_dir, checkpoint_dir_name(step)) if from_ray else self.setup.resume_from
        )
        if self.session.rank == 0:
            logger.info("resumed from %s at step %d", self.restored_from, step)
            self.setup.context.report(startStep=step, resumedFrom=self.restored_from)
        return step

    def run(self) -> None:
        if self.session.rank == 0 and self.start_step == 0:
            self.setup.context.report(startStep=0)
        if self.step >= self.params.steps:
            self._finish_without_training()
            return
        self._window = (self.step, time.perf_counter())
        while self.step < self.params.steps:
            local_loss = self._train_step(self.step)
            self.step += 1
            preempt, due = self._agree(local_loss)
            self._steady = self._steady or (self.step, time.perf_counter())
            if self.session.rank == 0 and (self.step % self.params.log_every_steps == 0 or preempt):
                self._log_progress()
            if preempt:
                self._checkpoint(preempted=True)
                return
            if due or self.step == self.params.steps:
                self._checkpoint(done=self.step == self.params.steps)

    def _train_step(self, step: int) -> Tensor:
        params, session = self.params, self.session
        x, y = get_batch(
            self.tokens,
            seed=params.seed,
            step=step,
            rank=session.rank,
            batch_size=params.batch_size,
            block_size=params.block_size,
        )
        lr = lr_at(
            step,
            base_lr=params.lr,
            warmup_steps=params.warmup_steps,
            total_steps=params.steps,
            min_lr_ratio=params.min_lr_ratio,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if params.dropout > 0:
            torch.manual_seed(stream_seed(params.seed, step, session.rank, 1))
        loss = lm_loss(self.module(x.to(session.device)), y.to(session.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if params.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), params.grad_clip)
        self.optimizer.step()
        return loss.detach()

    def _agree(self, local_loss: Tensor) -> tuple[bool, bool]:
        """Mean loss, and whether any worker saw a preemption / rank 0 wants a checkpoint now."""
        due = self.session.rank == 0 and self.policy.due(self.step)
        flags = torch.stack(
            [
                local_loss.to(torch.float64),
                torch.tensor(float(self.stop_requested()), dtype=torch.float64, device=local_loss.device),
                torch.tensor(float(due), dtype=torch.float64, device=local_loss.device),
            ]
        )
        loss_sum, preempt, checkpoint = self.session.all_reduce(flags).tolist()
        self.loss = loss_sum / self.session.world_size
        return preempt > 0, checkpoint > 0

    def _rates(self, since: tuple[int, float]) -> tuple[float, float]:
        """(tokens/s, steps/s) over all workers since `(step, perf_counter time)`."""
        steps = self.step - since[0]
        elapsed = max(time.perf_counter() - since[1], 1e-9)
        tokens = steps * self.params.batch_size * self.params.block_size * self.session.world_size
        return round(tokens / elapsed, 1), round(steps / elapsed, 3)

    def _log_progress(self) -> None:
        tokens_per_second, steps_per_second = self._rates(self._window)
        self._window = (self.step, time.perf_counter())
        self.setup.context.report(
            step=self.step,
            totalSteps=self.params.steps,
            loss=round(self.loss, 6),
            tokensPerSecond=tokens_per_second,
            stepsPerSecond=steps_per_second,
        )

    def _checkpoint(self, *, preempted: bool = False, done: bool = False) -> None:
        name = checkpoint_dir_name(self.step)
        path = join(self.setup.run_dir, name)
        metrics = {
            "step": self.step,
            "loss": self.loss,
            "preempted": preempted,
            "done": done,
            "checkpoint": path,
        }
        with tempfile.TemporaryDirectory(prefix="park-checkpoint-") as tmp:
            directory = None
            if self.session.rank == 0:
                directory = Path(tmp)
                save_train_checkpoint(
                    directory,
                    model=self.model,
                    optimizer=self.optimizer,
                    vocab=self.vocab,
                    step=self.step,
                    loss=self.loss,
                    extra={"data": self.setup.provenance, "trainParams": self.params.model_dump()},
                )
            self.session.report(metrics, checkpoint=directory, name=name)
        self.policy.mark(self.step)
        if self.session.rank == 0:
            self.setup.context.report(checkpoint=path, checkpointStep=self.step)
            if (preempted or done) and self._steady is not None and self.step > self._steady[0]:
                tokens_per_second, _ = self._rates(self._steady)
                self.setup.context.report(meanTokensPerSecond=tokens_per_second)

    def _finish_without_training(self) -> None:
        """Resumed from a checkpoint at or past the last step: nothing to train, say where the result is."""
        source = self.restored_from or ""
        metrics = {
            "step": self.step,
            "loss": self.loss,
            "preempted": False,
            "done": True,
            "checkpoint": source,
        }
        self.session.report(metrics, checkpoint=None, name="")


def _adamw(model: CharLM, params: TrainParams) -> torch.optim.AdamW:
    """Weight decay on matrices only (not on biases, norms)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": params.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=params.lr)
