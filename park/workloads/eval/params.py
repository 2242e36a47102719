"""The `eval` workload's parameters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EvalParams(BaseModel):
    """Evaluate a charlm checkpoint on held-out text and gate it against a baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint: str | None = Field(
        None, description="default: PARK_RESUME_FROM, else the newest under job_dir"
    )
    job_dir: str | None = Field(None, description="where to look for the newest checkpoint")
    corpus: str | None = Field(None, description="default: the corpus the checkpoint was trained on")
    eval_fraction: float | None = Field(None, gt=0.0, lt=1.0, description="default: the training split's")
    eval_text: str | None = Field(None, description="a text file to evaluate on whole, instead of a split")
    max_eval_chars: int = Field(50_000, ge=16)
    batch_size: int = Field(32, ge=1)
    baseline: str | dict[str, Any] | None = Field(None, description="eval metrics JSON: a path or inline")
    max_regression: float = Field(0.05, ge=0.0, description="allowed relative increase of the loss")
