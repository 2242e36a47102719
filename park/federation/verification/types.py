"""The verified work types: how each app's results are compared or validated, and its credit cap.

| app | how a result is checked | tolerance |
| --- | --- | --- |
| `sha256-chain` | replica, exact | none: integer arithmetic |
| `embed-text` | replica, per-row cosine and max abs difference; a lazy result (one vector for different texts) fails alone | float32 rounding differs across CPUs, GPUs and BLAS builds (checks.py) |
| `generate-commit` | the gateway re-derives the TOPLOC-style commitment with one prefill pass, no replica | float16 commitment values, measured honest error (checks.py) |
| `eval-shard` | the gateway re-scores a random sample of 1 in 8 texts (at least one), no replica | 1e-5 relative |
"""  # noqa: E501 - a table

from __future__ import annotations

import math
import random
import secrets
from typing import Any

from park.federation.verification import checks
from park.federation.verification.engine import Checked, CheckResult, WorkType, exact

# CPU seconds one result may claim: generous for honest nodes on slow machines, a ceiling for liars.
SHA256_ROUNDS_PER_CPU_SECOND = 500_000
EVAL_SAMPLE_EVERY = 8

_sampler = random.Random(secrets.randbits(64))  # the node must not know which texts are re-scored


def _chain_cap(payload: dict[str, Any]) -> float:
    return 1.0 + 4.0 * int(payload.get("rounds", 0)) / SHA256_ROUNDS_PER_CPU_SECOND


def _texts(payload: dict[str, Any]) -> int:
    texts = payload.get("texts")
    return len(texts) if isinstance(texts, list) else 0


def _embeddings(a: dict[str, Any], b: dict[str, Any]) -> CheckResult:
    return checks.compare_embeddings(a, b)


def _no_duplicates(payload: dict[str, Any], output: dict[str, Any]) -> CheckResult:
    texts = payload.get("texts") or []
    repeated = checks.duplicated_rows(output, [str(t) for t in texts])
    if repeated:
        return Checked(
            "mismatch", f"{repeated} rows repeat another text's vector" if repeated > 0 else "malformed"
        )
    return Checked("match")


def _commitment(payload: dict[str, Any], output: dict[str, Any]) -> CheckResult:
    return checks.check_commitment(payload, output)


def _eval_sample(payload: dict[str, Any], output: dict[str, Any]) -> CheckResult:
    count = _texts(payload)
    if count == 0:
        return Checked("mismatch", "no texts")
    sample = sorted(_sampler.sample(range(count), max(1, math.ceil(count / EVAL_SAMPLE_EVERY))))
    return checks.check_eval_sample(payload, output, sample)


def work_types() -> dict[str, WorkType]:
    """Every app whose results Park can verify (`probe` describes one machine: nothing to compare)."""
    return {
        "sha256-chain": WorkType(app="sha256-chain", compare=exact, credit_cap=_chain_cap),
        "embed-text": WorkType(
            app="embed-text",
            compare=_embeddings,
            sanity=_no_duplicates,
            credit_cap=lambda p: 5.0 + 0.5 * _texts(p),
        ),
        "generate-commit": WorkType(
            app="generate-commit",
            compare=exact,
            validate=_commitment,
            credit_cap=lambda p: 5.0 + 0.1 * int(p.get("new_tokens", 0)),
        ),
        "eval-shard": WorkType(
            app="eval-shard", compare=exact, validate=_eval_sample, credit_cap=lambda p: 5.0 + 0.5 * _texts(p)
        ),
    }
