"""Data order and schedule are pure functions of (seed, step, rank): the data position is the step."""

from __future__ import annotations

import pytest
import torch

from park.workloads.train.batches import get_batch, lr_at, stream_seed

TOKENS = torch.arange(1000) % 37


def _batch(**overrides: int) -> tuple[torch.Tensor, torch.Tensor]:
    args = {"seed": 1, "step": 5, "rank": 0, "batch_size": 4, "block_size": 8, **overrides}
    return get_batch(TOKENS, **args)


def test_the_same_step_and_rank_give_the_same_batch_whatever_came_before() -> None:
    first = _batch()
    _batch(step=6)
    torch.manual_seed(123)  # the global RNG plays no part
    again = _batch()
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])


@pytest.mark.parametrize("change", [{"step": 6}, {"rank": 1}, {"seed": 2}])
def test_step_rank_and_seed_each_pick_other_windows(change: dict[str, int]) -> None:
    assert not torch.equal(_batch()[0], _batch(**change)[0])


def test_targets_are_the_next_characters() -> None:
    x, y = _batch()
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal((x[:, 0] + 1) % 37, y[:, 0])


def test_too_short_a_text_is_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        get_batch(torch.arange(8), seed=0, step=0, rank=0, batch_size=1, block_size=8)


def test_stream_seed_is_stable_across_processes() -> None:
    assert stream_seed(0, 0, 0) == stream_seed(0, 0, 0) != stream_seed(0, 0, 1)
    assert stream_seed(1, 2, 3) == 1527331947104972218  # blake2b, not the salted hash()


def test_lr_warms_up_then_decays_to_the_floor() -> None:
    def lr(step: int) -> float:
        return lr_at(step, base_lr=1.0, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)

    assert lr(0) == pytest.approx(0.1)
    assert lr(9) == pytest.approx(1.0)
    assert lr(10) == pytest.approx(1.0)
    assert lr(60) == pytest.approx(0.55)
    assert lr(110) == pytest.approx(0.1)
    assert all(lr(s) >= lr(s + 1) for s in range(10, 110))
