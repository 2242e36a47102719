"""ParkService rows: phase, running/target replicas summed over deployments, and endpoints."""

from __future__ import annotations

from datetime import datetime

from park.core.resources import AnyResource, ParkService
from park.ui.views._format import age
from park.ui.views._spec import Cells, ViewSpec


def _cells(obj: AnyResource, now: datetime) -> Cells:
    assert isinstance(obj, ParkService)
    deployments = obj.status.deployments
    running = sum(d.running_replicas for d in deployments)
    target = sum(d.target_replicas for d in deployments)
    return (
        obj.spec.queue,
        obj.status.phase or "Pending",
        f"{running}/{target}",
        str(len(obj.spec.applications)),
        age(obj.metadata.creation_timestamp, now),
        ",".join(obj.status.endpoints) or "-",
    )


SERVICES = ViewSpec(
    kind="ParkService",
    name="services",
    aliases=("service", "ps", "parkservice", "parkservices"),
    namespaced=True,
    columns=("QUEUE", "STATUS", "REPLICAS", "APPS", "AGE", "ENDPOINTS"),
    cells=_cells,
    actions=frozenset({"describe", "scale", "delete"}),
)
