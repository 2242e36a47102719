"""Resource commands: apply, get, describe, logs, delete. Parse, call the API, render."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from park.cli import render
from park.cli.context import Obj
from park.cli.uploads import upload_local_files, zip_local_files
from park.client import ParkClient
from park.core.errors import InvalidError
from park.core.kinds import kind_info
from park.core.loading import load_documents, parse_resource
from park.core.resources import TERMINAL_JOB_PHASES

out = Console(highlight=False, soft_wrap=True)

NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="Namespace")]
KindArg = Annotated[str, typer.Argument(help="jobs, clusters, services or queues (or ParkJob, pj, ...)")]


def _read_sources(path: str) -> list[tuple[str, str, Path]]:
    """(text, source name, base directory for relative paths) for a file, a directory or `-`."""
    if path == "-":
        return [(sys.stdin.read(), "<stdin>", Path.cwd())]
    target = Path(path)
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
        if not files:
            raise InvalidError(f"{path}: no .yaml, .yml or .json files in this directory")
    elif target.is_file():
        files = [target]
    else:
        raise InvalidError(f"{path}: no such file or directory")
    return [(f.read_text(encoding="utf-8"), str(f), f.parent.resolve()) for f in files]


def apply(
    ctx: typer.Context,
    filename: Annotated[str, typer.Option("--filename", "-f", help="A YAML file, a directory of them, or -")],
    namespace: NamespaceOpt = "default",
) -> None:
    """Create or update the resources in FILE (all documents are checked before any is sent); a job's
    local working_dir and py_modules are uploaded to the platform, once per content."""
    obj: Obj = ctx.obj
    objects = []
    for text, source, base in _read_sources(filename):
        objects += [
            (o, zip_local_files(o, base))
            for o in load_documents(text, source=source, default_namespace=namespace)
        ]
    with obj.client() as client:
        for resource, files in objects:
            result = client.apply(upload_local_files(client, resource, files, out))
            out.print(f"{kind_info(resource.kind).singular}/{resource.metadata.name} {result.action}")


def get(
    ctx: typer.Context,
    kind: KindArg,
    name: Annotated[str | None, typer.Argument()] = None,
    namespace: NamespaceOpt = "default",
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="table, yaml or json")] = "table",
    selector: Annotated[str | None, typer.Option("--selector", "-l", help="Label selector")] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="After listing, print changes as they happen")
    ] = False,
) -> None:
    """List objects of a kind, or show one."""
    if output not in ("table", "yaml", "json"):
        raise InvalidError(f"--output must be table, yaml or json, not {output!r}")
    obj: Obj = ctx.obj
    info = kind_info(kind)
    ns = None if all_namespaces or not info.namespaced else namespace
    with obj.client() as client:
        objects = (
            [client.get(info.kind, ns, name)]
            if name
            else client.list_objects(info.kind, namespace=ns, selector=selector)
        )
        show_namespace = ns is None and info.namespaced
        if output != "table":
            out.print(render.as_documents(objects, output), markup=False)
        elif objects:
            render.print_table(out, render.table(info.kind, objects, show_namespace=show_namespace))
        else:
            out.print(f"No {info.plural} found" + (f" in namespace {ns}." if ns else "."))
        if watch:
            _watch_rows(client, info.kind, ns, name, show_namespace=show_namespace, header=not objects)


def _watch_rows(
    client: ParkClient, kind: str, ns: str | None, name: str | None, *, show_namespace: bool, header: bool
) -> None:
    """Like `kubectl get -w`: a line per change a reader can see; writes that move no column are skipped."""
    last: dict[tuple[str | None, str], list[str]] = {}
    for change in client.watch(kinds=kind):
        obj = parse_resource(change["object"])
        if (ns is not None and obj.metadata.namespace != ns) or (
            name is not None and obj.metadata.name != name
        ):
            continue
        key = (obj.metadata.namespace, obj.metadata.name)
        cells = render.row_cells(kind, obj, show_namespace=show_namespace)
        if last.get(key) == cells:
            continue
        last[key] = cells
        render.print_table(out, render.table(kind, [obj], show_namespace=show_namespace, show_header=header))
        header = False


def describe(ctx: typer.Context, kind: KindArg, name: str, namespace: NamespaceOpt = "default") -> None:
    """Show an object's spec, status, conditions and events."""
    obj: Obj = ctx.obj
    info = kind_info(kind)
    ns = namespace if info.namespaced else None
    with obj.client() as client:
        out.print(
            render.describe(client.get(info.kind, ns, name), client.events(info.kind, ns, name)), markup=False
        )


def logs(
    ctx: typer.Context,
    kind: KindArg,
    name: str,
    namespace: NamespaceOpt = "default",
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream output until the job ends")] = False,
) -> None:
    """Print a job's output (its current attempt)."""
    if kind_info(kind).kind != "ParkJob":
        raise InvalidError(f"logs are kept for jobs only, not {kind}")
    obj: Obj = ctx.obj
    with obj.client() as client:
        if not follow:
            sys.stdout.write(client.logs(namespace, name))
            return
        for chunk in client.follow_logs(namespace, name):
            sys.stdout.write(chunk)
            sys.stdout.flush()


def delete(
    ctx: typer.Context,
    kind: KindArg,
    name: str,
    namespace: NamespaceOpt = "default",
) -> None:
    """Delete an object; a running job is stopped first."""
    obj: Obj = ctx.obj
    info = kind_info(kind)
    with obj.client() as client:
        deleted = client.delete(info.kind, namespace if info.namespaced else None, name)
    finishing = deleted is not None and deleted.metadata.deletion_timestamp is not None
    pending = " (finishing: cleanup in progress)" if finishing else ""
    out.print(f"{info.singular}/{name} deleted{pending}")


def _set_suspend(ctx: typer.Context, kind: str, name: str, namespace: str, *, suspend: bool) -> None:
    if kind_info(kind).kind != "ParkJob":
        raise InvalidError(f"only jobs can be suspended and resumed, not {kind}")
    obj: Obj = ctx.obj
    with obj.client() as client:
        job = client.set_suspend(namespace, name, suspend=suspend)
    if job.status.phase in TERMINAL_JOB_PHASES:
        out.print(
            f"job/{job.metadata.name} has already finished ({job.status.phase}): nothing to suspend or resume"
        )
        return
    verb = "suspended (a running job is preempted: it checkpoints, then stops)" if suspend else "resumed"
    out.print(f"job/{job.metadata.name} {verb}")


def suspend(ctx: typer.Context, kind: KindArg, name: str, namespace: NamespaceOpt = "default") -> None:
    """Suspend a job; a running one is preempted and can resume from its checkpoint."""
    _set_suspend(ctx, kind, name, namespace, suspend=True)


def resume(ctx: typer.Context, kind: KindArg, name: str, namespace: NamespaceOpt = "default") -> None:
    """Resume a suspended or preempted job (from its latest checkpoint when it has one)."""
    _set_suspend(ctx, kind, name, namespace, suspend=False)
