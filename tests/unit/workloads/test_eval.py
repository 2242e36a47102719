"""Held-out evaluation is deterministic and measures what it says."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from park.workloads.contract import JobContext
from park.workloads.eval.driver import resolve_checkpoint
from park.workloads.eval.evaluate import evaluate, windows
from park.workloads.eval.params import EvalParams
from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab, save_charlm

CONFIG = CharLMConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, d_model=8)


def test_windows_are_consecutive_and_predict_the_next_character() -> None:
    x, y = windows(torch.arange(10), 4)
    assert x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert y.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    with pytest.raises(ValueError, match="too few"):
        windows(torch.arange(4), 4)


def test_evaluation_is_deterministic_and_consistent() -> None:
    torch.manual_seed(0)
    model = CharLM(CONFIG)
    tokens = torch.randint(0, 5, (203,))
    first = evaluate(model, tokens, batch_size=3)
    assert first == evaluate(model, tokens, batch_size=3)
    assert first["tokens"] == 200
    assert first["perplexity"] == pytest.approx(math.exp(first["loss"]))
    assert 0.0 <= first["accuracy"] <= 1.0
    assert evaluate(model, tokens, batch_size=50)["loss"] == pytest.approx(first["loss"], rel=1e-6)


def test_the_checkpoint_is_the_parameter_then_the_job_dir_then_the_contract(tmp_path: Path) -> None:
    newest = tmp_path / "job" / "checkpoints" / "run" / "checkpoint_00000009"
    save_charlm(newest, CharLM(CONFIG), CharVocab("abcde"), step=9)
    context = JobContext.from_env({"PARK_JOB_DIR": str(tmp_path / "job"), "PARK_RESUME_FROM": "/from/env"})
    assert resolve_checkpoint(EvalParams(checkpoint="/given"), context) == "/given"
    assert resolve_checkpoint(EvalParams(job_dir=str(tmp_path / "job")), context) == str(newest)
    assert resolve_checkpoint(EvalParams(), context) == "/from/env"
    no_resume = JobContext.from_env({"PARK_JOB_DIR": str(tmp_path / "job")})
    assert resolve_checkpoint(EvalParams(), no_resume) == str(newest)
