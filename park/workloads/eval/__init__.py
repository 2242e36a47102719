"""The `eval` workload: held-out loss, perplexity and accuracy of a charlm checkpoint, and a promotion gate.

`python -m park.workloads.eval` writes `<checkpoint>/eval_metrics.json`, reports `gate` in the job's
report, and exits 3 when the loss regressed beyond `max_regression` against the baseline.
"""

from park.workloads.eval.gate import GateDecision, judge
from park.workloads.eval.params import EvalParams

__all__ = ["EvalParams", "GateDecision", "judge"]
