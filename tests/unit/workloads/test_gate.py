"""The eval promotion gate: lower loss is better, a regression beyond the threshold fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from park.core.errors import InvalidError
from park.workloads.eval.gate import judge, load_baseline


@pytest.mark.parametrize(
    ("loss", "passed"),
    [(1.0, True), (0.8, True), (1.05, True), (1.0501, False), (2.0, False)],
)
def test_the_gate_allows_up_to_max_regression(loss: float, passed: bool) -> None:
    decision = judge({"loss": loss}, {"loss": 1.0}, max_regression=0.05)
    assert decision.passed is passed
    assert decision.gate == ("passed" if passed else "failed")
    assert ("regression:" in decision.reason) is not passed


def test_the_reason_names_both_losses_and_the_threshold() -> None:
    decision = judge({"loss": 1.2}, {"loss": 1.0}, max_regression=0.05)
    assert decision.reason == "regression: loss 1.2000 vs baseline 1.0000 (+20.00%, allowed +5.00%)"
    assert decision.regression == pytest.approx(0.2)


def test_without_a_baseline_the_gate_passes_and_says_so() -> None:
    decision = judge({"loss": 1.2}, None, max_regression=0.0)
    assert decision.passed and "no baseline" in decision.reason


def test_a_baseline_is_inline_a_file_or_a_checkpoint_directory(tmp_path: Path) -> None:
    (tmp_path / "eval_metrics.json").write_text(json.dumps({"loss": 1.5, "accuracy": 0.4}))
    assert load_baseline({"loss": 2}) == {"loss": 2}
    assert load_baseline(str(tmp_path / "eval_metrics.json"))["loss"] == 1.5  # type: ignore[index]
    assert load_baseline(str(tmp_path))["loss"] == 1.5  # type: ignore[index]
    assert load_baseline(None) is None


@pytest.mark.parametrize("baseline", [{"accuracy": 0.3}, {"loss": "low"}, "/no/such/file.json"])
def test_an_unusable_baseline_is_a_parameter_error(baseline: object) -> None:
    with pytest.raises(InvalidError, match=r"baseline|loss"):
        load_baseline(baseline)  # type: ignore[arg-type]
