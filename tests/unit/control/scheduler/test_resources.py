"""Resource vectors: exact integer arithmetic, readable text, and the helpers quota math relies on."""

from __future__ import annotations

import math

import pytest

from park.control.scheduler import Resources


def test_quantities_parse_into_exact_base_units() -> None:
    r = Resources.of(cpu="500m", memory="16Gi", gpu=2)
    assert (r.raw("cpu"), r.raw("memory"), r.raw("gpu")) == (500, 16 * 2**30, 2000)
    assert r.get("cpu") == 0.5
    assert r.get("memory") == 16 * 2**30


def test_typed_gpus_and_custom_names_are_plain_names() -> None:
    r = Resources.of({"gpu/nvidia-a100": 4, "example.com/fpga": 1})
    assert r.get("gpu/nvidia-a100") == 4
    assert r.get("gpu") == 0


def test_adding_many_fractions_does_not_drift() -> None:
    total = Resources()
    for _ in range(10_000):
        total = total + Resources.of(cpu=0.1)
    assert total == Resources.of(cpu=1000)


def test_subtraction_clamps_at_zero_and_gangs_multiply() -> None:
    assert Resources.of(gpu=1) - Resources.of(gpu=3) == Resources()
    assert Resources.of(gpu=2, cpu=8).times(4) == Resources.of(gpu=8, cpu=32)


@pytest.mark.parametrize(
    ("demand", "limit", "fits"),
    [
        ({"gpu": 2}, {"gpu": 2}, True),
        ({"gpu": 3}, {"gpu": 2}, False),
        ({"gpu": 1, "cpu": 4}, {"gpu": 2}, False),
        ({}, {}, True),
    ],
)
def test_fits(demand: dict[str, float], limit: dict[str, float], fits: bool) -> None:
    assert Resources.of(demand).fits(Resources.of(limit)) is fits


def test_dominant_share_is_the_largest_fraction() -> None:
    total = Resources.of(gpu=8, cpu=64)
    assert Resources.of(gpu=2, cpu=32).dominant_share(total) == 0.5
    assert math.isinf(Resources.of(tpu=1).dominant_share(total))


def test_zero_entries_do_not_change_equality_but_stay_declared() -> None:
    declared = Resources.of({"gpu/nvidia-a100": 4, "gpu/nvidia-h100": 0})
    assert declared == Resources.of({"gpu/nvidia-a100": 4})
    assert hash(declared) == hash(Resources.of({"gpu/nvidia-a100": 4}))
    assert declared.names() == ("gpu/nvidia-a100", "gpu/nvidia-h100")


def test_text_reads_like_a_person_wrote_it() -> None:
    assert str(Resources.of(cpu="500m", memory="8Gi", gpu=2)) == "2 gpu, 500m cpu, 8Gi memory"
    assert str(Resources.of(cpu=1.5)) == "1.5 cpu"
    assert str(Resources()) == "nothing"


def test_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Resources({"gpu": -1})
