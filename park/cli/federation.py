"""`park federation`: the platform's side — invite nodes, revoke them, submit and read work."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import typer
from rich.console import Console

from park.cli import render
from park.cli.context import Obj
from park.core.errors import InvalidError

app = typer.Typer(help="The federation gateway: invitations, revocations, work units.")
out = Console(highlight=False, soft_wrap=True)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.strip())
    if match is None:
        raise InvalidError(f"duration {text!r} is not like 90s, 30m, 24h or 7d")
    return float(match.group(1)) * _SECONDS[match.group(2)]


@app.command()
def status(ctx: typer.Context) -> None:
    """The gateway's peer ID and addresses, nodes online, and work units by state."""
    obj: Obj = ctx.obj
    with obj.client() as client:
        info = client.federation()
    out.print(f"gateway peer ID: {info['peerId']}  ({'running' if info['running'] else 'NOT running'})")
    for addr in info["addrs"]:
        out.print(f"  {addr}")
    work = ", ".join(f"{k}={v}" for k, v in sorted(info["work"].items())) or "none"
    out.print(f"nodes online: {info['online']}   work: {work}   apps: {', '.join(info['apps'])}")


@app.command()
def invite(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the FederatedNode")],
    peer_id: Annotated[str, typer.Option(help="The node's peer ID (from `park node init`)")],
    cpus: Annotated[float, typer.Option(help="CPU cores it may use")] = 1,
    memory_gib: Annotated[float, typer.Option(help="Memory it may use, GiB")] = 2,
    gpus: Annotated[int, typer.Option(help="GPUs it may use")] = 0,
    gpu_memory_gib: Annotated[float, typer.Option(help="GPU memory it may use, GiB")] = 0,
    apps: Annotated[str, typer.Option(help="Apps it may run, comma-separated")] = "sha256-chain,probe",
    ttl: Annotated[str, typer.Option(help="How long the token is valid: 90s, 30m, 24h, 7d")] = "24h",
) -> None:
    """Register a node and print its single-use join token (signed by the gateway's key)."""
    obj: Obj = ctx.obj
    capabilities = {
        "cpus": cpus,
        "memoryGib": memory_gib,
        "gpus": gpus,
        "gpuMemoryGib": gpu_memory_gib,
        "apps": [a.strip() for a in apps.split(",") if a.strip()],
    }
    with obj.client() as client:
        reply = client.invite(
            name, peer_id=peer_id, capabilities=capabilities, ttl_seconds=parse_duration(ttl)
        )
    typer.echo(reply["token"])
    Console(stderr=True).print(
        f"FederatedNode {name} invited; on the node run: park node run --token <token>"
    )


@app.command()
def revoke(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Name of the FederatedNode")]
) -> None:
    """Revoke a node: dropped now, refused from now on, announced to the mesh."""
    obj: Obj = ctx.obj
    with obj.client() as client:
        client.revoke_node(name)
    out.print(f"FederatedNode {name} revoked")


@app.command()
def submit(
    ctx: typer.Context,
    app_name: Annotated[str, typer.Argument(metavar="APP", help="App the nodes run, e.g. sha256-chain")],
    payload: Annotated[str, typer.Option(help="The app's input as JSON")],
    max_attempts: Annotated[int, typer.Option(help="Leases before the unit fails")] = 3,
    verified: Annotated[
        bool,
        typer.Option(help="A task: replicated, validated or spot-checked before it is used and credited"),
    ] = False,
) -> None:
    """Queue work for the federation; print the unit's (or with --verified the task's) ID."""
    obj: Obj = ctx.obj
    try:
        body = json.loads(payload)
    except ValueError as err:
        raise InvalidError(f"--payload is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise InvalidError("--payload must be a JSON object")
    with obj.client() as client:
        created = (
            client.submit_task(app_name, body)
            if verified
            else client.submit_work(app_name, body, max_attempts=max_attempts)
        )
    typer.echo(created["id"])


@app.command()
def tasks(
    ctx: typer.Context,
    task_id: Annotated[str | None, typer.Argument(help="One task (JSON), or all tasks as a table")] = None,
    state: Annotated[str | None, typer.Option(help="pending, valid or failed")] = None,
) -> None:
    """Verified tasks: pending until verified, then valid (with the result used) or failed."""
    obj: Obj = ctx.obj
    with obj.client() as client:
        if task_id is not None:
            typer.echo(json.dumps(client.task(task_id), indent=2))
            return
        items = client.tasks(state=state)
    grid = render.grid(["ID", "APP", "STATE", "DETAIL"])
    for task in items:
        grid.add_row(task["id"], task["app"], task["state"], task["detail"])
    render.print_table(out, grid)


@app.command()
def ledger(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Name of the FederatedNode")]
) -> None:
    """A node's credit entries, checked against the gateway's signature and hash chain."""
    from park.federation.verification.ledger import SignedEntry, verify_chain  # noqa: PLC0415

    obj: Obj = ctx.obj
    with obj.client() as client:
        book = client.node_ledger(name)
    entries = [SignedEntry.from_dict(e) for e in book["entries"]]
    balance = verify_chain(entries, gateway=book["gateway"], peer=book["peerId"])
    print_ledger(entries)
    out.print(f"{len(entries)} entries, verified; balance {balance:g} credits")


def print_ledger(entries: list[Any]) -> None:
    grid = render.grid(["SEQ", "APP", "WORK", "CLAIMED", "GRANTED", "REASON"])
    for signed in entries[-20:]:
        entry = signed.entry
        grid.add_row(
            str(entry["seq"]), str(entry["app"]), str(entry["workId"]), f"{entry['claimed']:g}",
            f"{entry['granted']:g}", str(entry["reason"]),
        )  # fmt: skip
    render.print_table(out, grid)


@app.command()
def work(
    ctx: typer.Context,
    work_id: Annotated[str | None, typer.Argument(help="One unit (JSON), or all units as a table")] = None,
    state: Annotated[str | None, typer.Option(help="queued, leased, done or failed")] = None,
) -> None:
    """Show work units: where each one is, which node has or did it, and its result."""
    obj: Obj = ctx.obj
    with obj.client() as client:
        if work_id is not None:
            typer.echo(json.dumps(client.work(work_id), indent=2))
            return
        units = client.works(state=state)
    grid = render.grid(["ID", "APP", "STATE", "ATTEMPT", "NODE", "ERROR"])
    for unit in units:
        # The node's name; a peer that is no node (any more) shows its whole peer ID, never a part.
        node = unit.get("node") or unit.get("completedBy") or unit.get("peer") or "-"
        grid.add_row(
            unit["id"], unit["app"], unit["state"], str(unit["attempt"]), node, unit.get("error") or ""
        )
    render.print_table(out, grid)
