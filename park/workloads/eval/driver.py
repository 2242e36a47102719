"""Driver of the `eval` workload: checkpoint in, `<checkpoint>/eval_metrics.json` and a gate out.

Exit codes: 0 the gate passed (or there was no baseline), 3 the loss regressed beyond
`max_regression`, 2 a parameter or the checkpoint is wrong. Evaluation needs no Ray: a ParkJob runs
it as the entrypoint process itself.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import torch

from park.core.errors import InvalidError
from park.workloads._cli import configure_logging, fail, parse_params
from park.workloads.artifacts import ArtifactError, join
from park.workloads.checkpoints import latest_checkpoint, local_dir, write_text
from park.workloads.contract import JobContext
from park.workloads.corpus import DEFAULT_MAX_CHARS, read_corpus, split_text
from park.workloads.eval.evaluate import evaluate
from park.workloads.eval.gate import METRICS_FILE, judge, load_baseline
from park.workloads.eval.params import EvalParams
from park.workloads.models.charlm import CheckpointFormatError, LoadedCharLM, load_charlm

logger = logging.getLogger(__name__)
PROG = "python -m park.workloads.eval"
GATE_FAILED_EXIT = 3


def resolve_checkpoint(params: EvalParams, context: JobContext) -> str:
    """`checkpoint`, else the newest under `job_dir`, else PARK_RESUME_FROM, else the newest of this job."""
    if params.checkpoint:
        return params.checkpoint
    if params.job_dir is None and context.resume_from:
        return context.resume_from
    root = params.job_dir or context.checkpoint_dir
    found = latest_checkpoint(root)
    if found is None:
        raise InvalidError(f"no checkpoint under {root}: set the `checkpoint` or `job_dir` parameter")
    return found


def held_out_text(params: EvalParams, meta: dict[str, Any]) -> str:
    """`eval_text` whole, or the held-out tail of the corpus the checkpoint was trained on."""
    if params.eval_text is not None:
        text = read_corpus(params.eval_text, max_chars=params.max_eval_chars)
    else:
        data = meta.get("data") or {}
        corpus = params.corpus if params.corpus is not None else data.get("corpus")
        full = read_corpus(corpus, max_chars=int(data.get("maxCorpusChars", DEFAULT_MAX_CHARS)))
        _, text = split_text(full, params.eval_fraction or float(data.get("evalFraction", 0.1)))
    return text[: params.max_eval_chars]


def run_eval(params: EvalParams, loaded: LoadedCharLM, checkpoint: str) -> dict[str, Any]:
    text = held_out_text(params, loaded.meta)
    tokens = torch.tensor(loaded.vocab.encode(text, strict=False), dtype=torch.long)
    metrics = evaluate(loaded.model, tokens, batch_size=params.batch_size)
    return {**metrics, "checkpoint": checkpoint, "step": loaded.meta.get("step")}


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    context = JobContext.from_env()
    try:
        params = parse_params(EvalParams, argv=argv, prog=PROG)
        baseline = load_baseline(params.baseline)
        checkpoint = resolve_checkpoint(params, context)
        with local_dir(checkpoint) as directory:
            loaded = load_charlm(directory)
        metrics = run_eval(params, loaded, checkpoint)
    except (InvalidError, ValueError, FileNotFoundError, CheckpointFormatError, ArtifactError) as exc:
        return fail(context, str(exc), code=2, gate="error", reason=str(exc), metrics=None)
    metrics_path = join(checkpoint, METRICS_FILE)
    write_text(metrics_path, json.dumps(metrics, indent=2, sort_keys=True))
    decision = judge(metrics, baseline, max_regression=params.max_regression)
    logger.info("gate %s: %s", decision.gate, decision.reason)
    context.report(
        state="Succeeded" if decision.passed else "Failed",
        error=None,
        gate=decision.gate,
        reason=decision.reason,
        metrics=metrics,
        evalMetrics=metrics_path,
    )
    return 0 if decision.passed else GATE_FAILED_EXIT
