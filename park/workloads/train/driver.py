"""Driver of the `train` workload: read the contract, start a `TorchTrainer`, turn its end into a report.

How a run continues (Ray Train V2 has no `resume_from_checkpoint` any more; it raises if given one):
1. within one attempt, a worker-group restart (`max_failures`) resumes from `ray.train.get_checkpoint()`,
   which Ray's checkpoint manager fills from this run's snapshot under `<storage_path>/<name>/`;
2. a new attempt gets its own run name (`<job>-attempt-<n>`), so Ray starts it clean, and the loop
   restores PARK_RESUME_FROM (the platform's record) or, without one, the job's own record of its
   latest checkpoint (`resume_source`; `resume: false` turns that off).

Ray: with RAY_ADDRESS set (the Ray Jobs API sets it for an entrypoint) the driver joins that cluster;
without it, it starts a private local instance and never attaches to a stray one.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from park.core.errors import InvalidError
from park.workloads._cli import configure_logging, fail, parse_params
from park.workloads.artifacts import is_uri, join
from park.workloads.checkpoints import latest_checkpoint
from park.workloads.contract import JobContext, Preemption
from park.workloads.corpus import read_corpus, split_text
from park.workloads.models.charlm import CharVocab
from park.workloads.train.loop import WorkerSetup, train_loop_per_worker
from park.workloads.train.params import TrainParams

logger = logging.getLogger(__name__)
PROG = "python -m park.workloads.train"


@dataclass(frozen=True)
class TrainingData:
    tokens: torch.Tensor
    vocab: CharVocab
    provenance: dict[str, Any]


def load_training_data(params: TrainParams) -> TrainingData:
    """The vocabulary covers the whole corpus (so eval never meets an unknown character); tokens, the
    training split only."""
    text = read_corpus(params.corpus, max_chars=params.max_corpus_chars)
    vocab = CharVocab.from_text(text)
    train_text, _ = split_text(text, params.eval_fraction)
    if len(train_text) <= params.block_size + 1:
        raise InvalidError(
            f"the corpus has {len(text)} characters: too few for block_size {params.block_size}"
        )
    provenance = {
        "corpus": None if params.corpus is None else str(Path(params.corpus).resolve()),  # for eval
        "maxCorpusChars": params.max_corpus_chars,
        "evalFraction": params.eval_fraction,
        "corpusSha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "trainChars": len(train_text),
    }
    tokens = torch.tensor(vocab.encode(train_text), dtype=torch.int32)
    return TrainingData(tokens=tokens, vocab=vocab, provenance=provenance)


def build_trainer(
    params: TrainParams, context: JobContext, data: TrainingData, resume_from: str | None
) -> Any:
    import ray  # noqa: PLC0415 - keep `--help` and parameter errors fast
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig  # noqa: PLC0415
    from ray.train.torch import TorchTrainer  # noqa: PLC0415

    use_gpu = params.use_gpu
    if use_gpu is None:
        use_gpu = ray.cluster_resources().get("GPU", 0) > 0  # type: ignore[no-untyped-call]
    storage = (
        context.checkpoint_dir
        if is_uri(context.checkpoint_dir)
        else str(Path(context.checkpoint_dir).resolve())
    )
    name = f"{context.name}-attempt-{context.attempt}"
    setup = WorkerSetup(
        params=params,
        context=context,
        tokens=data.tokens,
        vocab=data.vocab.chars,
        run_dir=join(storage, name),
        resume_from=resume_from,
        provenance=data.provenance,
    )
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"setup": setup},
        scaling_config=ScalingConfig(
            num_workers=params.num_workers,
            use_gpu=use_gpu,
            resources_per_worker={"CPU": params.cpus_per_worker},
        ),
        run_config=RunConfig(
            name=name,
            storage_path=storage,
            checkpoint_config=CheckpointConfig(num_to_keep=params.keep_checkpoints),
            failure_config=FailureConfig(max_failures=params.max_failures),
        ),
    )


def resume_source(context: JobContext, *, resume: bool) -> str | None:
    """PARK_RESUME_FROM; else (unless `resume` is off) the checkpoint this job's report names, which rank 0
    records only once Ray has persisted it whole; else the newest checkpoint under PARK_CHECKPOINT_DIR."""
    if context.resume_from or not resume:
        return context.resume_from
    recorded = context.read_report().get("checkpoint")
    if isinstance(recorded, str) and recorded and (is_uri(recorded) or Path(recorded).is_dir()):
        return recorded
    return latest_checkpoint(context.checkpoint_dir)


def connect_ray() -> None:
    import ray  # noqa: PLC0415

    address = os.environ.get("RAY_ADDRESS")
    if address and address != "local":
        ray.init(address=address)
    else:
        ray.init(address="local")


def finish(context: JobContext, metrics: dict[str, Any]) -> int:
    step, checkpoint = metrics.get("step"), metrics.get("checkpoint") or None
    if metrics.get("preempted"):
        logger.info("preempted at step %s; checkpoint %s", step, checkpoint)
        context.report(state="Preempted", preempted=True, step=step, checkpoint=checkpoint)
        return 0
    loss = metrics.get("loss")
    loss = (
        loss if isinstance(loss, int | float) and math.isfinite(loss) else None
    )  # report.json is strict JSON
    logger.info("finished at step %s, loss %s; checkpoint %s", step, loss, checkpoint)
    context.report(state="Succeeded", done=True, step=step, steps=step, loss=loss, checkpoint=checkpoint)
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    context = JobContext.from_env()
    try:
        params = parse_params(TrainParams, argv=argv, prog=PROG)
        data = load_training_data(params)
    except (InvalidError, ValueError) as exc:
        return fail(context, str(exc), code=2)
    resume_from = resume_source(context, resume=params.resume)
    connect_ray()
    Preemption(context).install()  # after ray.init(), which installs a SIGTERM handler of its own
    context.report(
        state="Running",
        error=None,
        preempted=False,
        done=False,
        startStep=None,  # these two are set by rank 0 once it has restored
        resumedFrom=None,
        totalSteps=params.steps,
    )
    logger.info(
        "training %d steps on %d worker(s); resume from %s", params.steps, params.num_workers, resume_from
    )
    try:
        result = build_trainer(params, context, data, resume_from).fit()
    except Exception as exc:  # ray.train.TrainingFailedError and its causes
        logger.exception("training failed")
        return fail(context, f"training failed: {type(exc).__name__}: {exc}", code=1)
    return finish(context, dict(result.metrics or {}))
