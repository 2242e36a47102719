"""`park operator run`: the Kubernetes operator in the foreground (what the Deployment runs), and
`park operator api`: Park's REST API and federation gateway over a cluster's custom resources."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from park.cli.context import Obj
from park.core.settings import Settings

if TYPE_CHECKING:
    from park.federation.runtime import FederationSettings

app = typer.Typer(help="The Kubernetes operator: Park resources as custom resources, run on KubeRay.")


@app.command()
def run(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="kubeconfig file [default: in-cluster, then $KUBECONFIG]")
    ] = None,
) -> None:
    """Schedule and reconcile ParkJobs, ParkClusters and ParkServices onto KubeRay, in every namespace.
    Several replicas may run: the one holding the Lease (PARK_OPERATOR_LEASE_*) works, the others wait."""
    from park.operator.runner import run_operator  # noqa: PLC0415 (the Kubernetes client loads only here)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    asyncio.run(run_operator(kubeconfig=kubeconfig))


@dataclass(frozen=True)
class ApiServing:
    """Where `park operator api` listens and keeps its files."""

    host: str
    port: int
    token_file: Path
    federation: FederationSettings | None


def api_serving(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    token_file: Path | None = None,
    federation_port: int | None = None,
    federation_host: str | None = None,
    federation_dir: Path | None = None,
    federation_announce: list[str] | None = None,
) -> ApiServing:
    """The `PARK_*` settings `park up` reads (PARK_HOST, PARK_PORT, PARK_STATE_DIR for the token and the
    gateway's files, PARK_FEDERATION_*), each flag given replacing its setting; --federation-port also
    turns the gateway on."""
    from park.federation.runtime import FederationSettings  # noqa: PLC0415 (libp2p loads only here)

    changes: dict[str, Any] = {
        "host": host,
        "port": port,
        "federation_port": federation_port,
        "federation_host": federation_host,
        "federation_announce": federation_announce,
        "federation_enabled": True if federation_port is not None else None,
    }
    settings = settings.model_copy(update={k: v for k, v in changes.items() if v is not None})
    directory = federation_dir.expanduser() if federation_dir is not None else None
    federation = (
        FederationSettings.from_settings(settings, directory=directory)
        if settings.federation_enabled
        else None
    )
    token = (token_file or settings.token_file).expanduser()
    return ApiServing(host=settings.host, port=settings.port, token_file=token, federation=federation)


@app.command()
def api(
    ctx: typer.Context,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="kubeconfig file [default: in-cluster, then $KUBECONFIG]")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (replaces PARK_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (replaces PARK_PORT)")] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="Bearer token clients must send, created 0600 (replaces $PARK_STATE_DIR/admin.token)"
        ),
    ] = None,
    federation_port: Annotated[
        int | None,
        typer.Option(help="Run the gateway on this libp2p TCP port (replaces PARK_FEDERATION_PORT)"),
    ] = None,
    federation_host: Annotated[
        str | None, typer.Option(help="Address the gateway listens on (replaces PARK_FEDERATION_HOST)")
    ] = None,
    federation_dir: Annotated[
        Path | None,
        typer.Option(help="Gateway key and work database (replaces $PARK_STATE_DIR/federation)"),
    ] = None,
    federation_announce: Annotated[
        list[str] | None,
        typer.Option(help="Address nodes dial, put in tokens (replaces PARK_FEDERATION_ANNOUNCE)"),
    ] = None,
) -> None:
    """Park's REST API (the one `park up` serves) over the custom resources of a Kubernetes cluster, and
    the federation gateway unless PARK_FEDERATION_ENABLED=false; configured by `park up`'s PARK_* settings
    (what operator/gateway.yaml runs)."""
    from kubernetes import client as k8s  # noqa: PLC0415

    from park.api.deps import ApiContext  # noqa: PLC0415
    from park.control.packages import PackageStore  # noqa: PLC0415
    from park.core.clock import SystemClock  # noqa: PLC0415
    from park.embedded.statedir import ensure_admin_token  # noqa: PLC0415
    from park.federation.runtime import Federation  # noqa: PLC0415
    from park.operator.jobs import kubernetes_job_logs  # noqa: PLC0415
    from park.operator.runner import client_configuration  # noqa: PLC0415
    from park.operator.settings import OperatorSettings  # noqa: PLC0415
    from park.operator.store import KubernetesStore  # noqa: PLC0415

    obj: Obj = ctx.obj
    serving = api_serving(
        obj.settings,
        host=host,
        port=port,
        token_file=token_file,
        federation_port=federation_port,
        federation_host=federation_host,
        federation_dir=federation_dir,
        federation_announce=federation_announce,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    api_client = k8s.ApiClient(client_configuration(kubeconfig))
    store = KubernetesStore(api_client)
    store.current_resource_version()  # fail now, in one line, when the cluster or its CRDs are missing
    federation = (
        None if serving.federation is None else Federation(store, serving.federation, clock=SystemClock())
    )
    operator_settings = OperatorSettings()
    context = ApiContext(
        store=store,
        logs=kubernetes_job_logs(store=store, api_client=api_client, settings=operator_settings),
        token=ensure_admin_token(serving.token_file),
        ready=lambda: True,
        federation=federation,
        packages=PackageStore(operator_settings.packages()),
    )
    asyncio.run(_serve_api(context, host=serving.host, port=serving.port))


async def _serve_api(context: Any, *, host: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415

    from park.api.app import create_app  # noqa: PLC0415

    federation = context.federation
    if federation is not None:
        addrs = await federation.start()
        logging.getLogger("park.federation").info("federation gateway at %s", " ".join(addrs))
    try:
        server = uvicorn.Server(
            uvicorn.Config(create_app(context), host=host, port=port, log_level="warning")
        )
        await server.serve()
    finally:
        if federation is not None:
            await federation.stop()
