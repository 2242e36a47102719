"""`park operator run`: the Kubernetes operator in the foreground (what the Deployment runs)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

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


@app.command()
def api(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="kubeconfig file [default: in-cluster, then $KUBECONFIG]")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8470,
    token_file: Annotated[
        Path, typer.Option(help="Bearer token clients must send (created, mode 0600, when missing)")
    ] = Path("~/.park/admin.token"),
    federation_port: Annotated[
        int | None, typer.Option(help="Also run the federation gateway on this libp2p TCP port")
    ] = None,
    federation_host: Annotated[str, typer.Option(help="Address the gateway listens on")] = "0.0.0.0",  # noqa: S104
    federation_dir: Annotated[
        Path, typer.Option(help="Gateway key and work database (a persistent volume)")
    ] = Path("~/.park/federation"),
    federation_announce: Annotated[
        list[str] | None, typer.Option(help="Address nodes dial (e.g. the LoadBalancer's), put in tokens")
    ] = None,
) -> None:
    """Park's REST API (the one `park up` serves) over the custom resources of a Kubernetes cluster,
    and with --federation-port the federation gateway (what operator/gateway.yaml runs)."""
    from kubernetes import client as k8s  # noqa: PLC0415

    from park.api.deps import ApiContext  # noqa: PLC0415
    from park.control.packages import PackageStore  # noqa: PLC0415
    from park.core.clock import SystemClock  # noqa: PLC0415
    from park.embedded.statedir import ensure_admin_token  # noqa: PLC0415
    from park.federation.runtime import Federation, FederationSettings  # noqa: PLC0415
    from park.operator.jobs import kubernetes_job_logs  # noqa: PLC0415
    from park.operator.runner import client_configuration  # noqa: PLC0415
    from park.operator.settings import OperatorSettings  # noqa: PLC0415
    from park.operator.store import KubernetesStore  # noqa: PLC0415

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    api_client = k8s.ApiClient(client_configuration(kubeconfig))
    store = KubernetesStore(api_client)
    store.current_resource_version()  # fail now, in one line, when the cluster or its CRDs are missing
    federation = None
    if federation_port is not None:
        settings = FederationSettings(
            directory=federation_dir.expanduser(),
            host=federation_host,
            port=federation_port,
            announce=federation_announce or [],
        )
        federation = Federation(store, settings, clock=SystemClock())
    operator_settings = OperatorSettings()
    context = ApiContext(
        store=store,
        logs=kubernetes_job_logs(store=store, api_client=api_client, settings=operator_settings),
        token=ensure_admin_token(token_file.expanduser()),
        ready=lambda: True,
        federation=federation,
        packages=PackageStore(operator_settings.packages()),
    )
    asyncio.run(_serve_api(context, host=host, port=port))


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
