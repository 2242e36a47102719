"""The verified work types: how each app's results are compared or validated, and its credit cap."""

from __future__ import annotations

from typing import Any

from park.federation.verification.engine import WorkType, exact

# CPU seconds one result may claim: generous for honest nodes on slow machines, a ceiling for liars.
SHA256_ROUNDS_PER_CPU_SECOND = 500_000


def _chain_cap(payload: dict[str, Any]) -> float:
    return 1.0 + 4.0 * int(payload.get("rounds", 0)) / SHA256_ROUNDS_PER_CPU_SECOND


def work_types() -> dict[str, WorkType]:
    """Every app whose results Park can verify (`probe` describes one machine: nothing to compare)."""
    return {"sha256-chain": WorkType(app="sha256-chain", compare=exact, credit_cap=_chain_cap)}
