"""How objects look in a terminal: kubectl-like tables, YAML/JSON, and `describe` pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.segment import Segment, Segments
from rich.table import Table

from park.core.flavors import ParkResourceFlavor
from park.core.loading import dump_yaml
from park.core.resources import (
    AnyResource,
    FederatedNode,
    ParkCluster,
    ParkJob,
    ParkPriorityClass,
    ParkQueue,
    ParkService,
)


def age(when: datetime | None, *, now: datetime | None = None) -> str:
    if when is None:
        return "-"
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _job_row(job: ParkJob) -> list[str]:
    status = job.status
    return [job.spec.queue, status.phase or "Pending", str(status.attempt), status.message or ""]


def _cluster_row(cluster: ParkCluster) -> list[str]:
    resources = cluster.status.resources
    return [
        cluster.status.phase or "Pending",
        format(resources.get("CPU", 0.0), "g"),
        format(resources.get("GPU", 0.0), "g"),
        cluster.status.dashboard_url or "-",
    ]


def _service_row(service: ParkService) -> list[str]:
    deployments = service.status.deployments
    running = sum(d.running_replicas for d in deployments)
    target = sum(d.target_replicas for d in deployments)
    return [
        service.spec.queue,
        service.status.phase or "Pending",
        f"{running}/{target}",
        ",".join(service.status.endpoints) or "-",
    ]


def _amounts(values: dict[str, float]) -> str:
    shown = {k: v for k, v in values.items() if k in ("cpu", "gpu") or k.startswith("gpu/")}
    return ",".join(f"{k}={v:g}" for k, v in sorted(shown.items())) or "-"


def _queue_row(queue: ParkQueue) -> list[str]:
    quotas = [f.nominal_quota for f in queue.spec.flavors] or [queue.spec.nominal_quota]
    nominal = {"cpu": sum(q.cpu_cores() for q in quotas), "gpu": float(sum(q.gpus() for q in quotas))}
    usage = queue.status.usage
    deleting = queue.metadata.deletion_timestamp is not None  # before the scheduler wrote Terminating
    return [
        "Terminating" if deleting else queue.status.phase or "-",
        queue.spec.cohort or "-",
        _amounts({k: v for k, v in nominal.items() if v}),
        _amounts(usage.used),
        _amounts(usage.borrowed),
        str(queue.status.admitted_jobs),
        str(queue.status.pending_jobs),
    ]


def _priority_class_row(priority_class: ParkPriorityClass) -> list[str]:
    return [str(priority_class.spec.value), priority_class.spec.description or "-"]


def _flavor_row(flavor: ParkResourceFlavor) -> list[str]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(flavor.spec.node_labels.items()))
    return [flavor.spec.accelerator or "-", labels or "-", str(len(flavor.spec.tolerations))]


def _node_row(node: FederatedNode) -> list[str]:
    status = node.status
    offered = status.offered or node.spec.capabilities
    caps = f"cpu={offered.cpus:g} gpu={offered.gpus}"
    phase = "Revoked" if node.spec.revoked and status.phase != "Revoked" else status.phase or "Invited"
    return [
        phase,
        caps,
        age(status.last_seen) if status.last_seen else "-",
        f"{status.work.completed}/{status.work.leased}",
        f"{status.reputation:.2f}",
        f"{status.credits:g}",
    ]


COLUMNS: dict[str, tuple[list[str], Callable[[Any], list[str]]]] = {
    "ParkJob": (["QUEUE", "STATUS", "ATTEMPT", "MESSAGE"], _job_row),
    "ParkCluster": (["STATUS", "CPUS", "GPUS", "DASHBOARD"], _cluster_row),
    "ParkService": (["QUEUE", "STATUS", "REPLICAS", "ENDPOINTS"], _service_row),
    "ParkQueue": (["STATUS", "COHORT", "NOMINAL", "USED", "BORROWED", "ADMITTED", "PENDING"], _queue_row),
    "ParkPriorityClass": (["VALUE", "DESCRIPTION"], _priority_class_row),
    "ParkResourceFlavor": (["ACCELERATOR", "NODE LABELS", "TOLERATIONS"], _flavor_row),
    "FederatedNode": (["STATUS", "CAPS", "LAST SEEN", "DONE", "REPUTATION", "CREDITS"], _node_row),
}


def row_cells(kind: str, obj: AnyResource, *, show_namespace: bool) -> list[str]:
    _, row = COLUMNS[kind]
    cells = [obj.metadata.name, *row(obj), age(obj.metadata.creation_timestamp)]
    return ([obj.metadata.namespace or ""] if show_namespace else []) + cells


def grid(headers: list[str], *, show_header: bool = True) -> Table:
    """A kubectl-like table: no borders, bold headers; long cells fold on a terminal (see `print_table`)."""
    table = Table(box=None, pad_edge=False, header_style="bold", show_header=show_header)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def table(kind: str, objects: list[AnyResource], *, show_namespace: bool, show_header: bool = True) -> Table:
    headers, _ = COLUMNS[kind]
    shown = grid(
        (["NAMESPACE"] if show_namespace else []) + ["NAME", *headers, "AGE"], show_header=show_header
    )
    for obj in objects:
        shown.add_row(*row_cells(kind, obj, show_namespace=show_namespace))
    return shown


UNWRAPPED_WIDTH = 100_000


def print_table(console: Console, table: Table) -> None:
    """On a terminal a table fits the window, folding long cells; piped or redirected, every row stays on
    one line however long, so `grep`, `awk` and copy-paste get whole values (an endpoint URL, an ID)."""
    if console.is_terminal:
        console.print(table)
        return
    lines = console.render_lines(table, console.options.update_width(UNWRAPPED_WIDTH), pad=False)
    whole = [segment for line in lines for segment in (*line, Segment.line())]
    console.print(Segments(whole), soft_wrap=True)  # soft wrap: neither folded nor cropped


def as_documents(objects: list[AnyResource], output: str) -> str:
    documents = [obj.to_dict() for obj in objects]
    if output == "json":
        payload = documents[0] if len(documents) == 1 else {"items": documents}
        return json.dumps(payload, indent=2)
    return dump_yaml(documents)


def describe(obj: AnyResource, events: list[dict[str, Any]]) -> str:
    data = obj.to_dict()
    lines = [
        f"Name:         {obj.metadata.name}",
        f"Namespace:    {obj.metadata.namespace or '-'}",
        f"Kind:         {obj.kind}",
        f"Labels:       {', '.join(f'{k}={v}' for k, v in obj.metadata.labels.items()) or '<none>'}",
        f"Created:      {obj.metadata.creation_timestamp}",
        f"Generation:   {obj.metadata.generation}   ResourceVersion: {obj.metadata.resource_version}",
        "Spec:",
        _indent(dump_yaml([data.get("spec", {})])),
        "Status:",
        _indent(dump_yaml([{k: v for k, v in data.get("status", {}).items() if k != "conditions"}])),
        "Conditions:",
    ]
    conditions = obj.status.conditions
    lines += [f"  {c.type}={c.status}  {c.reason}  {c.message}" for c in conditions] or ["  <none>"]
    lines.append("Events:")
    if not events:
        lines.append("  <none>")
    for event in events:
        count = f" (x{event['count']})" if event["count"] > 1 else ""
        when = age(datetime.fromisoformat(event["lastTime"]))
        lines.append(f"  {event['type']:<8} {event['reason']:<20} {when:>4} ago  {event['message']}{count}")
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.rstrip().splitlines())
