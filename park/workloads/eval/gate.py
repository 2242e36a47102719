"""The promotion gate: is a candidate's held-out loss within `max_regression` of a baseline's?

Pure functions; the driver turns a failed gate into exit code 3 and `report(gate="failed")`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from park.core.errors import InvalidError

METRICS_FILE = "eval_metrics.json"


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str
    regression: float | None = None

    @property
    def gate(self) -> str:
        return "passed" if self.passed else "failed"


def judge(
    metrics: Mapping[str, Any], baseline: Mapping[str, Any] | None, *, max_regression: float
) -> GateDecision:
    """Lower loss is better; `regression` is the relative increase of the loss over the baseline's."""
    loss = float(metrics["loss"])
    if baseline is None:
        return GateDecision(passed=True, reason=f"no baseline to compare with (loss {loss:.4f})")
    base = float(baseline["loss"])
    regression = (loss - base) / base if base > 0 else (0.0 if loss <= base else float("inf"))
    verdict = f"loss {loss:.4f} vs baseline {base:.4f} ({regression:+.2%}, allowed +{max_regression:.2%})"
    if loss > base * (1.0 + max_regression):  # not `regression > max_regression`: exact at the boundary
        return GateDecision(passed=False, reason=f"regression: {verdict}", regression=regression)
    return GateDecision(passed=True, reason=f"within threshold: {verdict}", regression=regression)


def load_baseline(baseline: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An inline metrics dict, a metrics JSON file, or a checkpoint directory holding `eval_metrics.json`."""
    if baseline is None:
        return None
    if isinstance(baseline, Mapping):
        data: Any = dict(baseline)
        where = "the inline baseline"
    else:
        path = Path(baseline)
        path = path / METRICS_FILE if path.is_dir() else path
        where = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidError(f"cannot read baseline metrics {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("loss"), int | float):
        raise InvalidError(f"{where} has no numeric 'loss' to compare with")
    return data
