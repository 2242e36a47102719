"""Sampling: greedy is argmax, a seed fixes the draws, and top-p never draws outside the nucleus."""

from __future__ import annotations

import pytest
import torch

from park.workloads.serve.sampling import SamplingParams, make_generator, sample_token

LOGITS = torch.log(torch.tensor([0.05, 0.5, 0.3, 0.15]))


def _draws(params: SamplingParams, n: int = 300, *, stream: int = 0) -> list[int]:
    generator = make_generator(params, stream=stream)
    return [sample_token(LOGITS, params, generator) for _ in range(n)]


def test_greedy_takes_the_argmax_without_a_generator() -> None:
    params = SamplingParams()
    assert make_generator(params) is None
    assert sample_token(LOGITS, params, None) == 1


def test_a_seed_fixes_the_draws_and_streams_differ() -> None:
    params = SamplingParams(temperature=1.0, seed=7)
    assert _draws(params) == _draws(params)
    assert _draws(params) != _draws(SamplingParams(temperature=1.0, seed=8))
    assert _draws(params) != _draws(params, stream=1)
    assert set(_draws(params)) == {0, 1, 2, 3}


def test_top_p_draws_only_from_the_nucleus() -> None:
    assert set(_draws(SamplingParams(temperature=1.0, top_p=0.7, seed=1))) == {1, 2}  # 0.5 + 0.3 covers 0.7
    assert set(_draws(SamplingParams(temperature=1.0, top_p=0.01, seed=1))) == {1}


def test_a_low_temperature_sharpens_the_distribution() -> None:
    cold = _draws(SamplingParams(temperature=0.05, seed=3))
    assert cold.count(1) > 290


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"stop": ("",)}, "stop"),
    ],
)
def test_invalid_parameters_say_why(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SamplingParams(**bad)  # type: ignore[arg-type]
