"""The training loop in one process (LocalSession): checkpoints, preemption and an exact resume."""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import torch

from park.workloads.contract import JobContext, Preemption
from park.workloads.models.charlm import load_charlm
from park.workloads.train.checkpointing import TRAIN_STATE_FILE, checkpoint_dir_name
from park.workloads.train.loop import TrainRun, WorkerSetup
from park.workloads.train.params import TrainParams
from park.workloads.train.sessions import LocalSession

TEXT = "the quick brown fox jumps over the lazy dog. " * 40
VOCAB = "".join(sorted(set(TEXT)))
PARAMS = TrainParams(
    steps=12,
    block_size=16,
    batch_size=4,
    d_model=16,
    n_head=2,
    n_layer=1,
    warmup_steps=2,
    checkpoint_every_steps=5,
    log_every_steps=2,
    dropout=0.1,
)


def _setup(job_dir: Path, *, resume_from: str | None = None, **overrides: object) -> WorkerSetup:
    tokens = torch.tensor([VOCAB.index(char) for char in TEXT], dtype=torch.int32)
    return WorkerSetup(
        params=PARAMS.model_copy(update=overrides),
        context=JobContext.from_env({"PARK_JOB_DIR": str(job_dir)}),
        tokens=tokens,
        vocab=VOCAB,
        run_dir=str(job_dir / "run"),
        resume_from=resume_from,
        provenance={"corpus": "inline"},
    )


def _run(job_dir: Path, **kwargs: object) -> tuple[TrainRun, LocalSession]:
    setup = _setup(job_dir, **kwargs)  # type: ignore[arg-type]
    session = LocalSession(Path(setup.run_dir))
    run = TrainRun(setup, session)
    run.run()
    return run, session


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_run_checkpoints_at_multiples_of_the_interval_and_at_the_end(tmp_path: Path) -> None:
    run, session = _run(tmp_path)
    assert [r["step"] for r in session.reports] == [5, 10, 12]
    assert session.reports[-1]["done"] is True
    final = tmp_path / "run" / checkpoint_dir_name(12)
    assert (final / TRAIN_STATE_FILE).exists()
    assert load_charlm(final).meta["step"] == 12
    report = run.setup.context.read_report()
    assert report["checkpoint"] == str(final)
    assert report["step"] == 12 and report["tokensPerSecond"] > 0


def test_preemption_saves_at_once_and_a_resume_ends_exactly_like_an_uninterrupted_run(tmp_path: Path) -> None:
    straight, _ = _run(tmp_path / "straight")

    first_setup = _setup(tmp_path / "job")
    calls = itertools.count(1)
    session = LocalSession(Path(first_setup.run_dir))
    first = TrainRun(first_setup, session, stop_requested=lambda: next(calls) >= 7)
    first.run()
    assert session.reports[-1]["preempted"] is True
    assert first.step == 7  # saved at the step it noticed, no work to redo
    resumed, _ = _run(tmp_path / "job", resume_from=session.reports[-1]["checkpoint"])

    assert resumed.start_step == 7
    assert resumed.step == straight.step == 12
    assert resumed.loss == straight.loss
    for mine, theirs in zip(resumed.model.parameters(), straight.model.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_the_preemption_marker_of_the_job_stops_the_loop(tmp_path: Path) -> None:
    setup = _setup(tmp_path)
    Preemption(setup.context).request()
    session = LocalSession(Path(setup.run_dir))
    TrainRun(setup, session).run()
    assert [(r["step"], r["preempted"]) for r in session.reports] == [(1, True)]


def test_resuming_a_finished_run_trains_nothing_and_points_at_its_checkpoint(tmp_path: Path) -> None:
    _, session = _run(tmp_path)
    final = session.reports[-1]["checkpoint"]
    again, again_session = _run(tmp_path, resume_from=final)
    assert again.start_step == 12
    assert again_session.reports == [
        {
            "step": 12,
            "loss": session.reports[-1]["loss"],
            "preempted": False,
            "done": True,
            "checkpoint": final,
        }
    ]


def test_a_checkpoint_of_another_model_shape_is_refused(tmp_path: Path) -> None:
    _, session = _run(tmp_path / "small")
    with pytest.raises(ValueError, match="has model"):
        _run(tmp_path / "big", resume_from=session.reports[-1]["checkpoint"], d_model=32)


def test_a_time_interval_alone_checkpoints_too(tmp_path: Path) -> None:
    _, session = _run(tmp_path, checkpoint_every_steps=None, checkpoint_every_seconds=1e-9, steps=3)
    assert [r["step"] for r in session.reports] == [1, 2, 3]


class RestartedSession(LocalSession):
    """What a worker sees after Ray restarted the worker group: `ray.train.get_checkpoint()` is set."""

    def __init__(self, run_dir: Path, restored: Path) -> None:
        super().__init__(run_dir)
        self.restored = restored

    def restored_checkpoint(self) -> AbstractContextManager[Path] | None:
        return contextlib.nullcontext(self.restored)


def test_ray_restoring_a_restarted_worker_group_wins_over_the_attempt_start(tmp_path: Path) -> None:
    _, first = _run(tmp_path)  # checkpoints at 5, 10, 12 under run/
    at_ten = tmp_path / "run" / checkpoint_dir_name(10)
    setup = _setup(tmp_path, resume_from=first.reports[0]["checkpoint"])  # step 5
    run = TrainRun(setup, RestartedSession(Path(setup.run_dir), at_ten))
    assert run.start_step == 10
    assert run.restored_from == str(at_ten)
    assert setup.context.read_report()["resumedFrom"] == str(at_ten)


def test_a_mixture_of_experts_model_trains_and_checkpoints(tmp_path: Path) -> None:
    run, _ = _run(tmp_path, n_expert=4, expert_top_k=2, steps=30, lr=1e-2)
    final = load_charlm(tmp_path / "run" / checkpoint_dir_name(30))
    assert (final.config.n_expert, final.config.expert_top_k) == (4, 2)
    assert any(".moe.experts.3." in key for key in final.model.state_dict())
    assert run.loss < 0.8 * math.log(len(VOCAB))  # it learned, through the gate and the experts
