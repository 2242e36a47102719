"""Workload parameters: environment JSON, overridden by --params, validated with one-line errors."""

from __future__ import annotations

import pytest

from park.core.errors import InvalidError
from park.workloads._cli import parse_params
from park.workloads.train.params import TrainParams


def test_command_line_overrides_the_environment_key_by_key() -> None:
    params = parse_params(
        TrainParams,
        argv=["--params", '{"steps": 7}'],
        environ={"PARK_WORKLOAD_PARAMS": '{"steps": 3, "num_workers": 2}'},
    )
    assert (params.steps, params.num_workers) == (7, 2)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("[1]", "must be a JSON object"),
        ("{", "not valid JSON"),
        ('{"stepz": 1}', "stepz: Extra inputs are not permitted"),
        ('{"steps": 0}', "steps: Input should be greater than or equal to 1"),
        ('{"d_model": 30, "n_head": 4}', "multiple of n_head"),
    ],
)
def test_bad_parameters_are_one_line_errors(env: str, message: str) -> None:
    with pytest.raises(InvalidError, match=message) as caught:
        parse_params(TrainParams, argv=[], environ={"PARK_WORKLOAD_PARAMS": env})
    assert "\n" not in str(caught.value)
