"""`park up`: run the embedded platform in the foreground until Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from park.cli.context import Obj
from park.core.errors import NotFoundError
from park.core.resources import ParkCluster

if TYPE_CHECKING:
    from park.embedded import Platform

console = Console(stderr=True, highlight=False, soft_wrap=True)  # addresses stay whole, for copy-paste
HEAD_WAIT_SECONDS = 300.0


def up(
    ctx: typer.Context,
    state_dir: Annotated[
        Path | None, typer.Option(help="Where the store, tokens and logs live [default: ~/.park]")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address the API listens on [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="API port (0 picks a free one) [default: 8470]")] = None,
    cpus: Annotated[float | None, typer.Option(help="CPUs of the default cluster [default: all]")] = None,
    federation_port: Annotated[
        int | None, typer.Option(help="Federation gateway's libp2p TCP port (0 picks one) [default: 8471]")
    ] = None,
) -> None:
    """Run the whole platform on this machine: store, controllers, local Ray, REST API, federation gateway."""
    obj: Obj = ctx.obj
    changes = {
        "state_dir": state_dir,
        "host": host,
        "port": port,
        "default_cluster_cpus": cpus,
        "federation_port": federation_port,
    }
    settings = obj.settings.model_copy(update={k: v for k, v in changes.items() if v is not None})
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s", force=True)
    logging.getLogger("park").setLevel(logging.INFO)
    # Loaded here: every other `park` command (and `park operator run`) stays free of the API server,
    # Ray and libp2p (~50 MB and a second of imports).
    from park.embedded import Platform  # noqa: PLC0415

    asyncio.run(_run(Platform(settings)))


async def _run(platform: Platform) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, platform.stop)
    started = asyncio.Event()
    runner = asyncio.create_task(platform.run(on_ready=lambda _: started.set()))
    with console.status("Starting Park: store, controllers, API"):
        done, _ = await asyncio.wait(
            {runner, asyncio.create_task(started.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
    if runner in done:
        runner.result()
        return
    settings = platform.settings
    console.print(f"[green]Park is up[/green] at {platform.url}")
    console.print(f"  state: {settings.state_dir}   token: {settings.token_file}")
    if platform.federation is not None:
        console.print(f"  federation gateway: {' '.join(platform.federation.bootstrap)}")
    await _wait_for_default_head(platform, runner)
    console.print("Ready. Try: park apply -f examples/hello-job.yaml   (Ctrl-C stops everything)")
    await runner
    console.print("Park stopped.")


async def _wait_for_default_head(platform: Platform, runner: asyncio.Task[None]) -> None:
    """Show progress while the default cluster's Ray head starts (a few seconds)."""
    with console.status("Starting the Ray head of ParkCluster default/default") as status:
        deadline = asyncio.get_running_loop().time() + HEAD_WAIT_SECONDS
        while (
            not runner.done() and asyncio.get_running_loop().time() < deadline and platform.store is not None
        ):
            try:
                cluster = platform.store.get("ParkCluster", "default", "default")
            except NotFoundError:
                return
            assert isinstance(cluster, ParkCluster)
            if cluster.status.phase in ("Ready", "Failed"):
                style = "green" if cluster.status.phase == "Ready" else "red"
                phase = f"[{style}]{cluster.status.phase}[/{style}]"
                console.print(f"ParkCluster default/default {phase}: {cluster.status.message}")
                return
            status.update(f"ParkCluster default/default: {cluster.status.message or 'pending'}")
            await asyncio.sleep(0.5)
