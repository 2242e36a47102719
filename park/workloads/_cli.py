"""What every workload entry point shares: parameters and the one-line failure.

Parameters are JSON in `PARK_WORKLOAD_PARAMS` (how the platform passes them), overridden key by key by
`--params JSON` on the command line (how a person runs a workload locally).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from park.core.errors import InvalidError
from park.workloads.contract import JobContext

PARAMS_ENV = "PARK_WORKLOAD_PARAMS"
P = TypeVar("P", bound=BaseModel)


def _json_object(text: str, *, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidError(f"{where} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(value, dict):
        raise InvalidError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def parse_params(
    model: type[P], *, argv: list[str] | None = None, environ: Mapping[str, str] | None = None, prog: str = ""
) -> P:
    """Merge environment and command-line parameters and validate them into `model`."""
    parser = argparse.ArgumentParser(prog=prog, description=model.__doc__)
    parser.add_argument("--params", default="{}", help=f"JSON object; overrides ${PARAMS_ENV} key by key")
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    merged = {
        **_json_object(env.get(PARAMS_ENV) or "{}", where=PARAMS_ENV),
        **_json_object(args.params, where="--params"),
    }
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "params"
        raise InvalidError(f"invalid workload parameter {field}: {first['msg']}") from exc


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def fail(context: JobContext, message: str, *, code: int, **fields: Any) -> int:
    """Say what went wrong in one line (stderr and the job's report) and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    context.report(state="Failed", error=message, **fields)
    return code
