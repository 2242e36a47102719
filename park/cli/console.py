"""`park console`: the terminal console (park.ui), connected like every other command."""

from __future__ import annotations

from typing import Annotated

import typer

from park.cli.context import Obj


def console(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Argument(help="The view to open: jobs, clusters, services, queues, events")
    ] = "jobs",
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Only this namespace (default: all)")
    ] = None,
    light: Annotated[bool, typer.Option("--light", help="The light theme, for light terminals")] = False,
) -> None:
    """Open the live console: k9s-like views of clusters, jobs, services, queues and events."""
    from park.ui import run_console  # noqa: PLC0415 - Textual loads only for this command

    obj: Obj = ctx.obj
    with obj.client() as client:
        client.version()  # a missing server is a one-line error here, not a console that never connects
    run_console(connect=obj.client, namespace=namespace, kind=kind, light=light)
