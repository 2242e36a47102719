"""Training throughput of the `train` workload under Park, against the same model and loop run directly.

Steady-state tokens/s (the first step, with its allocations, excluded; checkpoints included), in one
run of this script, alternating the two sides of each pair so machine noise hits both alike:
- 1 worker: the workload's TorchTrainer (Park contract: preemption check and agreement every step,
  report.json, checkpoints through Ray Train storage) vs the same loop in this process without Ray
  (one torch thread, as a Ray worker with 1 CPU gets);
- N workers: the workload's TorchTrainer vs a plain TorchTrainer loop with the same model, batches,
  optimizer and checkpoint interval, and none of the Park contract.
Each ratio is Park / direct (aim: >= 0.95).

    python bench/train_bench.py [--steps 300] [--rounds 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import ray.train
import ray.train.torch
import torch
from ray.train import CheckpointConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from park.workloads.contract import JobContext
from park.workloads.models.charlm import CharLM, CharVocab, lm_loss
from park.workloads.train.batches import get_batch, lr_at
from park.workloads.train.checkpointing import checkpoint_dir_name, save_train_checkpoint
from park.workloads.train.driver import TrainingData, build_trainer, load_training_data
from park.workloads.train.loop import TrainRun, WorkerSetup
from park.workloads.train.params import TrainParams
from park.workloads.train.sessions import LocalSession


def park_run(params: TrainParams, data: TrainingData, job_dir: Path) -> float:
    context = JobContext.from_env({"PARK_JOB_DIR": str(job_dir), "PARK_JOB_NAME": job_dir.name})
    build_trainer(params, context, data, None).fit()
    return float(context.read_report()["meanTokensPerSecond"])


def direct_run(params: TrainParams, data: TrainingData, job_dir: Path) -> float:
    context = JobContext.from_env({"PARK_JOB_DIR": str(job_dir), "PARK_JOB_NAME": job_dir.name})
    setup = WorkerSetup(
        params=params,
        context=context,
        tokens=data.tokens,
        vocab=data.vocab.chars,
        run_dir=str(job_dir / "run"),
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        TrainRun(setup, LocalSession(job_dir / "run")).run()
    finally:
        torch.set_num_threads(threads)
    return float(context.read_report()["meanTokensPerSecond"])


def plain_loop(config: dict[str, Any]) -> None:
    """What one would write with Ray Train alone: the same training, no preemption, no report.json."""
    params: TrainParams = config["params"]
    tokens, vocab = config["tokens"].long(), CharVocab(config["vocab"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.manual_seed(params.seed)
    model = CharLM(params.charlm_config(vocab_size=len(vocab)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    module = ray.train.torch.prepare_model(model)
    steady: tuple[int, float] | None = None
    for step in range(params.steps):
        x, y = get_batch(
            tokens,
            seed=params.seed,
            step=step,
            rank=rank,
            batch_size=params.batch_size,
            block_size=params.block_size,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr_at(
                step,
                base_lr=params.lr,
                warmup_steps=params.warmup_steps,
                total_steps=params.steps,
                min_lr_ratio=params.min_lr_ratio,
            )
        loss = lm_loss(module(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steady = steady or (step + 1, time.perf_counter())
        if (step + 1) % (params.checkpoint_every_steps or params.steps) == 0 or step + 1 == params.steps:
            with tempfile.TemporaryDirectory() as tmp:
                checkpoint = None
                if rank == 0:
                    save_train_checkpoint(
                        Path(tmp),
                        model=model,
                        optimizer=optimizer,
                        vocab=vocab,
                        step=step + 1,
                        loss=0.0,
                        extra={},
                    )
                    checkpoint = ray.train.Checkpoint.from_directory(tmp)
                rate = (step + 1 - steady[0]) * params.batch_size * params.block_size * world
                metrics = {"meanTokensPerSecond": rate / max(time.perf_counter() - steady[1], 1e-9)}
                ray.train.report(
                    metrics, checkpoint=checkpoint, checkpoint_dir_name=checkpoint_dir_name(step + 1)
                )


def plain_run(params: TrainParams, data: TrainingData, job_dir: Path) -> float:
    trainer = TorchTrainer(
        plain_loop,
        train_loop_config={"params": params, "tokens": data.tokens, "vocab": data.vocab.chars},
        scaling_config=ScalingConfig(num_workers=params.num_workers),
        run_config=RunConfig(
            name=job_dir.name, storage_path=str(job_dir), checkpoint_config=CheckpointConfig(num_to_keep=3)
        ),
    )
    return float(trainer.fit().metrics["meanTokensPerSecond"])


def compare(label: str, park: list[float], direct: list[float]) -> None:
    """Median and best of the rounds: on a shared machine the best run is the least disturbed one."""
    p, d = statistics.median(park), statistics.median(direct)
    print(f"{label}:")
    print(f"  median: park {p:,.0f} tokens/s | direct {d:,.0f} tokens/s | ratio park/direct {p / d:.3f}")
    p, d = max(park), max(direct)
    print(f"  best:   park {p:,.0f} tokens/s | direct {d:,.0f} tokens/s | ratio park/direct {p / d:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    base = TrainParams(
        steps=args.steps, d_model=128, batch_size=16, checkpoint_every_steps=100, log_every_steps=10
    )
    data = load_training_data(base)
    one, many = (
        base.model_copy(update={"num_workers": 1}),
        base.model_copy(update={"num_workers": args.workers}),
    )
    ray.init(address="local")
    results: dict[str, list[float]] = {name: [] for name in ("park1", "direct1", "parkN", "plainN")}
    with tempfile.TemporaryDirectory(prefix="park-train-bench-") as tmp:
        root = Path(tmp)
        park_run(one, data, root / "warm-up")  # the first run pays for worker imports
        for index in range(args.rounds):
            results["direct1"].append(direct_run(one, data, root / f"direct1-{index}"))
            results["park1"].append(park_run(one, data, root / f"park1-{index}"))
            results["plainN"].append(plain_run(many, data, root / f"plainN-{index}"))
            results["parkN"].append(park_run(many, data, root / f"parkN-{index}"))
            print(
                f"round {index + 1}: " + " ".join(f"{k} {v[-1]:,.0f}" for k, v in results.items()), flush=True
            )
    ray.shutdown()
    print()
    compare(
        "1 worker, under Park vs same loop in one process without Ray", results["park1"], results["direct1"]
    )
    compare(
        f"{args.workers} workers, under Park vs plain TorchTrainer loop", results["parkN"], results["plainN"]
    )


if __name__ == "__main__":
    main()
