"""When to checkpoint, and finding the newest checkpoint of a job."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from park.workloads.artifacts import ArtifactError, join
from park.workloads.checkpoints import cached_local_dir, latest_checkpoint, local_dir
from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab, save_charlm
from park.workloads.train.checkpointing import CheckpointPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_step_interval_is_aligned_to_multiples_so_a_resumed_run_keeps_the_schedule() -> None:
    policy = CheckpointPolicy(every_steps=10, every_seconds=None, start_step=7, clock=FakeClock())
    due = []
    for step in range(8, 31):
        if policy.due(step):
            due.append(step)
            policy.mark(step)
    assert due == [10, 20, 30]


def test_time_interval_counts_from_the_last_checkpoint() -> None:
    clock = FakeClock()
    policy = CheckpointPolicy(every_steps=None, every_seconds=5.0, start_step=0, clock=clock)
    clock.now = 4.9
    assert not policy.due(3)
    clock.now = 5.0
    assert policy.due(4)
    policy.mark(4)
    clock.now = 9.0
    assert not policy.due(5)


def test_nothing_is_due_without_progress_or_without_a_policy() -> None:
    clock = FakeClock()
    policy = CheckpointPolicy(every_steps=1, every_seconds=1.0, start_step=5, clock=clock)
    clock.now = 100.0
    assert not policy.due(5)
    never = CheckpointPolicy(every_steps=None, every_seconds=None, start_step=0, clock=clock)
    assert not never.due(1000)


def _save(directory: Path, step: int) -> None:
    model = CharLM(CharLMConfig(vocab_size=3, block_size=4, n_layer=1, n_head=1, d_model=4))
    save_charlm(directory, model, CharVocab("abc"), step=step)


def test_latest_checkpoint_is_the_highest_step_across_attempts(tmp_path: Path) -> None:
    torch.manual_seed(0)
    _save(tmp_path / "job-attempt-1" / "checkpoint_00000040", 40)
    _save(tmp_path / "job-attempt-2" / "checkpoint_00000090", 90)
    _save(tmp_path / "job-attempt-2" / "checkpoint_00000060", 60)
    (tmp_path / "job-attempt-2" / "broken").mkdir()
    (tmp_path / "job-attempt-2" / "broken" / "charlm.json").write_text("{")
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "job-attempt-2" / "checkpoint_00000090")
    assert latest_checkpoint(str(tmp_path / "missing")) is None


def test_paths_join_locally_and_as_uris() -> None:
    assert join("/data/ckpt", "run", "c1") == "/data/ckpt/run/c1"
    assert join("s3://bucket/ckpt/", "run") == "s3://bucket/ckpt/run"


def test_a_checkpoint_uri_is_downloaded_once_and_kept_for_serving(tmp_path: Path) -> None:
    source = tmp_path / "store" / "checkpoint_00000050"
    (source / "nested").mkdir(parents=True)
    (source / "charlm.json").write_text('{"step": 50}')
    (source / "nested" / "shard.bin").write_bytes(b"\x00\x01")
    cache = tmp_path / "cache"

    first = cached_local_dir(f"file://{source}", cache)
    assert (first / "charlm.json").read_text() == '{"step": 50}'
    assert (first / "nested" / "shard.bin").read_bytes() == b"\x00\x01"
    (source / "charlm.json").write_text("changed")  # a written checkpoint never changes: no second download
    assert cached_local_dir(f"file://{source}", cache) == first
    assert (first / "charlm.json").read_text() == '{"step": 50}'
    assert [p.name for p in cache.iterdir()] == [first.name]  # no partial copies left behind
    assert cached_local_dir(str(source), cache) == source  # a local directory is used in place


def test_a_missing_checkpoint_uri_fails_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="is not a directory"):
        cached_local_dir(f"file://{tmp_path}/nowhere", tmp_path / "cache")
    with pytest.raises(ArtifactError, match="is not a directory"), local_dir(f"file://{tmp_path}/nowhere"):
        pass
