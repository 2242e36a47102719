"""Entry point of the `data` workload: read the contract and the parameters, connect to Ray, run, report.

Ray: with RAY_ADDRESS set (the Ray Jobs API sets it for an entrypoint) the driver joins that cluster;
without it, it starts a private local instance and never attaches to a stray one. A new attempt runs
the whole pipeline again and overwrites the output, so retries are safe.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from park.core.errors import InvalidError
from park.workloads._cli import configure_logging, fail, parse_params
from park.workloads.contract import JobContext
from park.workloads.data.params import DataParams
from park.workloads.data.sources import check_output, list_sources

logger = logging.getLogger(__name__)
PROG = "python -m park.workloads.data"


def connect_ray() -> None:
    import ray  # noqa: PLC0415 - keep `--help` and parameter errors fast

    address = os.environ.get("RAY_ADDRESS")
    if address and address != "local":
        ray.init(address=address)
    else:
        ray.init(address="local", include_dashboard=False)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    context = JobContext.from_env()
    try:
        params = parse_params(DataParams, argv=argv, prog=PROG)
        sources = list_sources(params.input)  # before Ray starts: a wrong path fails fast
        check_output(params.output or context.file("output"))
    except InvalidError as exc:
        return fail(context, str(exc), code=2)
    from park.workloads.data.pipeline import run  # noqa: PLC0415 - imports Ray Data

    connect_ray()
    try:
        report = run(params, context, sources=sources)
    except InvalidError as exc:
        return fail(context, str(exc), code=2)
    except Exception as exc:  # a Ray task's error surfaces here, wrapped by Ray
        logger.exception("data pipeline failed")
        return fail(context, f"data pipeline failed: {type(exc).__name__}: {exc}", code=1)
    summarize(report)
    return 0


def summarize(report: dict[str, Any]) -> None:
    stages = report.get("stages", {})
    width = max((len(s) for s in stages), default=0)
    print(f"{'stage':<{width}}  " + "  ".join(f"{m:>7}" for m in next(iter(stages.values()), {})))
    for stage, row in stages.items():
        print(f"{stage:<{width}}  " + "  ".join(f"{n:>7}" for n in row.values()))
    reasons = report.get("invalidReasons", {}).get("total", {})
    if reasons:
        print("invalid: " + ", ".join(f"{r} {n}" for r, n in reasons.items()))
    print(f"output: {report.get('output')}  embedding dims: {report.get('embeddingDim')}")
