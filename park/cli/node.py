"""`park node`: the volunteer's side of the federation — a key, a config, and the daemon."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from park.core.errors import InvalidError
from park.core.processes import pid_alive
from park.core.resources import NodeCapabilities
from park.federation.config import NodeConfig, NodePaths, default_node_dir
from park.federation.identity import Identity

app = typer.Typer(help="Run a community node: join a Park federation and lend it GPUs and CPUs.")
out = Console(highlight=False, soft_wrap=True)

DirOption = Annotated[
    Path | None, typer.Option("--dir", help="Node directory [env: PARK_NODE_DIR, default: ~/.park-node]")
]


def _paths(directory: Path | None) -> NodePaths:
    return NodePaths((directory or default_node_dir()).expanduser())


@app.command()
def init(
    directory: DirOption = None,
    gateway: Annotated[
        list[str] | None, typer.Option(help="Gateway multiaddr (…/p2p/<id>); the token carries one too")
    ] = None,
    cpus: Annotated[float, typer.Option(help="CPU cores work may use")] = 1,
    memory_gib: Annotated[float, typer.Option(help="Memory work may use, GiB")] = 2,
    gpus: Annotated[int, typer.Option(help="GPUs work may use")] = 0,
    gpu_memory_gib: Annotated[float, typer.Option(help="GPU memory work may use, GiB")] = 0,
    apps: Annotated[str, typer.Option(help="Apps this node runs, comma-separated")] = "sha256-chain,probe",
    window: Annotated[
        list[str] | None, typer.Option(help="Only work in these local hours, e.g. 18:00-08:00 (repeatable)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing config (the key is kept)")] = False,
) -> None:
    """Create the node's Ed25519 key (its libp2p peer ID) and its config; print the peer ID to invite."""
    paths = _paths(directory)
    if paths.config.exists() and not force:
        raise InvalidError(f"{paths.config} exists; pass --force to replace it (the key is kept)")
    identity = Identity.load_or_create(paths.key)
    caps = NodeCapabilities(
        cpus=cpus,
        memory_gib=memory_gib,
        gpus=gpus,
        gpu_memory_gib=gpu_memory_gib,
        apps=[a.strip() for a in apps.split(",") if a.strip()],
    )
    paths.save_config(NodeConfig(gateway=gateway or [], caps=caps, windows=window or []))
    out.print(f"node directory: {paths.root}")
    out.print(f"peer ID: [bold]{identity.peer_id}[/bold]")
    out.print("Next: ask the platform for an invitation, e.g.")
    out.print(f"  park federation invite <name> --peer-id {identity.peer_id} --cpus {cpus:g} --gpus {gpus}")
    out.print("then run: park node run --token <token>")


@app.command()
def run(
    directory: DirOption = None,
    token: Annotated[
        str | None, typer.Option(help="Join token from `park federation invite` (saved)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every state change")] = False,
) -> None:
    """Run the daemon in the foreground: join, take work, run it in the sandbox. SIGTERM drains."""
    import trio  # noqa: PLC0415 - trio and libp2p load only for the daemon

    from park.federation.node import NodeDaemon  # noqa: PLC0415

    paths = _paths(directory)
    if token is not None:
        config = paths.load_config()
        paths.save_config(config.model_copy(update={"token": token.strip()}))
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("park.federation").setLevel(logging.INFO)
    paths.drain.unlink(missing_ok=True)
    daemon = NodeDaemon(paths)
    code = trio.run(daemon.run)
    out.print(f"node {daemon.state}: {daemon.reason}")
    sys.exit(code)


@app.command()
def status(
    directory: DirOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Identity, connection, current work, caps, and what the node has done."""
    paths = _paths(directory)
    identity = Identity.load(paths.key)
    config = paths.load_config()
    state = paths.read_json(paths.status) or {}
    pid = state.get("pid")
    running = isinstance(pid, int) and pid_alive(pid)
    if output == "json":
        typer.echo(json.dumps({"peerId": identity.peer_id, "running": running, **state}, indent=2))
        return
    out.print(f"peer ID:   {identity.peer_id}")
    out.print(f"node:      {state.get('node') or '(not joined yet)'}")
    daemon = "running" if running else "not running"
    out.print(
        f"daemon:    {daemon}, {state.get('state', 'never started')} {state.get('reason', '')}".rstrip()
    )
    out.print(f"gateway:   {state.get('gateway') or ', '.join(config.gateway) or '(from the token)'}")
    current = state.get("current")
    out.print(f"work:      {current['workId'] + ' (' + current['app'] + ')' if current else 'none'}")
    caps = config.caps
    out.print(
        f"caps:      cpus={caps.cpus:g} memory={caps.memory_gib:g}GiB gpus={caps.gpus} "
        f"gpuMemory={caps.gpu_memory_gib:g}GiB apps={','.join(caps.apps)}"
    )
    out.print(f"windows:   {', '.join(config.windows) or 'any time'}")
    paused = " (paused: park node resume)" if paths.paused.exists() else ""
    out.print(f"done:      {state.get('completed', 0)} completed, {state.get('failed', 0)} failed{paused}")
    out.print(f"credits:   {state.get('credits', 0):g} (verified; see `park node credits`)")
    if state.get("updatedAt"):
        out.print(f"updated:   {_ago(state['updatedAt'])}")


@app.command()
def credits(directory: DirOption = None) -> None:
    """The credit this node earned, verified offline: every entry signed by the gateway, chained, no gaps."""
    from park.cli.federation import print_ledger  # noqa: PLC0415
    from park.federation.node import gateway_peer  # noqa: PLC0415
    from park.federation.verification.ledger import SignedEntry, verify_chain  # noqa: PLC0415

    paths = _paths(directory)
    identity = Identity.load(paths.key)
    joined = paths.read_json(paths.joined)
    if not joined or not joined.get("gateway"):
        raise InvalidError(f"{paths.root} has not joined a federation yet")
    gateway = gateway_peer(str(joined["gateway"][0]))
    entries = [SignedEntry.from_dict(e) for e in paths.ledger_entries()]
    balance = verify_chain(entries, gateway=gateway, peer=identity.peer_id)
    print_ledger(entries)
    out.print(f"{len(entries)} entries verified against gateway {gateway}: {balance:g} credits")


@app.command()
def pause(directory: DirOption = None) -> None:
    """Take no new work; work in progress is stopped and handed back."""
    paths = _paths(directory)
    paths.load_config()
    paths.paused.touch()
    out.print("paused: the node takes no work until `park node resume`")


@app.command()
def resume(directory: DirOption = None) -> None:
    """Take work again."""
    paths = _paths(directory)
    paths.paused.unlink(missing_ok=True)
    out.print("resumed")


@app.command()
def drain(directory: DirOption = None) -> None:
    """Finish the current work, leave the federation cleanly and stop the daemon."""
    paths = _paths(directory)
    paths.load_config()
    paths.drain.touch()
    out.print("draining: the daemon stops after its current work")


def _ago(moment: str) -> str:
    try:
        seconds = (datetime.now(UTC) - datetime.fromisoformat(moment)).total_seconds()
    except ValueError:
        return moment
    return f"{seconds:.0f}s ago"
