"""The `park` command line: global options, `up`, `version`, and the resource commands."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import park
from park.cli import console, federation, node, operator, resources, up
from park.cli.context import Obj
from park.core.errors import ParkError
from park.core.settings import Settings

app = typer.Typer(
    help="Park: one control plane for AI infrastructure on PyTorch, AI models, Ray and Kubernetes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)


@app.callback()
def root(
    ctx: typer.Context,
    server: Annotated[str | None, typer.Option(help="API URL [env: PARK_SERVER]")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token [env: PARK_TOKEN]")] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="State directory of `park up` [env: PARK_STATE_DIR]")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what Park does")] = False,
) -> None:
    overrides: dict[str, Any] = {"server": server, "token": token, "state_dir": state_dir}
    ctx.obj = Obj(settings=Settings(**{k: v for k, v in overrides.items() if v is not None}))
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@app.command()
def version(ctx: typer.Context) -> None:
    """Print the client's version, and the server's when one is reachable."""
    obj: Obj = ctx.obj
    typer.echo(f"client: park {park.__version__}")
    try:
        with obj.client() as client:
            typer.echo(f"server: park {client.version()['version']} at {client.server}")
    except ParkError as exc:
        typer.echo(f"server: {exc}")


app.command(name="up")(up.up)
app.command(name="console")(console.console)
app.add_typer(operator.app, name="operator")
app.add_typer(federation.app, name="federation")
app.add_typer(node.app, name="node")
for command in (
    resources.apply,
    resources.get,
    resources.describe,
    resources.logs,
    resources.delete,
    resources.suspend,
    resources.resume,
):
    app.command()(command)


def main() -> None:
    try:
        app()
    except ParkError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
