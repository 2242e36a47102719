"""ParkCluster rows: phase, what Ray reports, restarts and the dashboard."""

from __future__ import annotations

from datetime import datetime

from park.core.resources import AnyResource, ParkCluster
from park.ui.views._format import age, amount
from park.ui.views._spec import Cells, ViewSpec


def _cells(obj: AnyResource, now: datetime) -> Cells:
    assert isinstance(obj, ParkCluster)
    status = obj.status
    return (
        status.phase or "Pending",
        amount(status.resources.get("CPU", 0.0)),
        amount(status.resources.get("GPU", 0.0)),
        str(len(obj.spec.worker_groups)),
        str(status.restarts),
        age(obj.metadata.creation_timestamp, now),
        status.dashboard_url or "-",
    )


CLUSTERS = ViewSpec(
    kind="ParkCluster",
    name="clusters",
    aliases=("cluster", "pcl", "parkcluster", "parkclusters"),
    namespaced=True,
    columns=("STATUS", "CPUS", "GPUS", "GROUPS", "RESTARTS", "AGE", "DASHBOARD"),
    cells=_cells,
    actions=frozenset({"describe", "delete"}),
)
