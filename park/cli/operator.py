"""`park operator run`: the Kubernetes operator in the foreground (what the Deployment runs)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The Kubernetes operator: Park resources as custom resources, run on KubeRay.")


@app.command()
def run(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="kubeconfig file [default: in-cluster, then $KUBECONFIG]")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Watch only this namespace [default: all namespaces]")
    ] = None,
    peering: Annotated[
        str | None,
        typer.Option(help="kopf peering name for several replicas (needs the KopfPeering CRDs)"),
    ] = None,
) -> None:
    """Reconcile ParkClusters, ParkJobs and ParkServices onto KubeRay; schedule on the Lease holder."""
    from park.operator.runner import run_operator  # noqa: PLC0415 (kopf loads only for this command)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("kopf").setLevel(logging.WARNING)  # one line per handler run drowns Park's own
    asyncio.run(run_operator(kubeconfig=kubeconfig, namespace=namespace, peering=peering))
