"""FederatedNode rows: whether a volunteer node is online, how far it is trusted, what it has earned."""

from __future__ import annotations

from datetime import datetime

from park.core.resources import AnyResource, FederatedNode
from park.ui.views._format import age, bar
from park.ui.views._spec import Cells, ViewSpec


def _cells(obj: AnyResource, now: datetime) -> Cells:
    assert isinstance(obj, FederatedNode)
    status = obj.status
    offered = status.offered or obj.spec.capabilities
    phase: str = status.phase or "Invited"
    if obj.spec.revoked and phase != "Revoked":
        phase += " (revoking)"  # asked for; the gateway has not dropped it yet
    return (
        phase,
        f"{bar(status.reputation, 1.0, width=5)} {status.reputation:.2f}",
        f"{status.credits:g}",
        f"{offered.cpus:g}",
        str(offered.gpus),
        f"{len(status.current_work)}/{status.work.completed}",
        age(status.last_seen, now),
        age(obj.metadata.creation_timestamp, now),
        status.address or "-",
    )


NODES = ViewSpec(
    kind="FederatedNode",
    name="nodes",
    aliases=("node", "fn", "federatednode", "federatednodes"),
    namespaced=False,
    columns=("STATUS", "REPUTATION", "CREDITS", "CPUS", "GPUS", "RUN/DONE", "SEEN", "AGE", "ADDRESS"),
    cells=_cells,
    actions=frozenset({"describe", "revoke", "delete"}),
)
