"""Which checkpoint a new attempt of `train` continues from."""

from __future__ import annotations

from pathlib import Path

import torch

from park.workloads.contract import JobContext
from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab, save_charlm
from park.workloads.train.driver import resume_source


def _checkpoint(directory: Path, step: int) -> str:
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=2, block_size=2, n_layer=1, n_head=1, d_model=2))
    save_charlm(directory, model, CharVocab("ab"), step=step)
    return str(directory)


def test_the_platform_record_wins_then_the_job_report_then_the_newest_on_disk(tmp_path: Path) -> None:
    job = tmp_path / "job"
    newest = _checkpoint(job / "checkpoints" / "j-attempt-1" / "checkpoint_00000020", 20)
    env = {"PARK_JOB_DIR": str(job)}
    assert resume_source(JobContext.from_env(env), resume=True) == newest

    recorded = _checkpoint(job / "checkpoints" / "j-attempt-1" / "checkpoint_00000010", 10)
    JobContext.from_env(env).report(checkpoint=recorded)
    assert resume_source(JobContext.from_env(env), resume=True) == recorded

    given = JobContext.from_env({**env, "PARK_RESUME_FROM": "/platform/record"})
    assert resume_source(given, resume=True) == "/platform/record"
    assert resume_source(given, resume=False) == "/platform/record"


def test_resume_off_starts_fresh_and_a_vanished_record_falls_back_to_disk(tmp_path: Path) -> None:
    env = {"PARK_JOB_DIR": str(tmp_path)}
    context = JobContext.from_env(env)
    context.report(checkpoint=str(tmp_path / "deleted"))
    assert resume_source(context, resume=True) is None
    newest = _checkpoint(tmp_path / "checkpoints" / "r" / "checkpoint_00000005", 5)
    assert resume_source(context, resume=True) == newest
    assert resume_source(context, resume=False) is None
