"""ParkResourceFlavor: a kind of node queues hold quota on (a gpu type, a zone), as Kueue's ResourceFlavor.

A flavor says what its nodes are (`accelerator`) and how pods reach them (`nodeLabels`, `tolerations`).
It is its own cluster-scoped kind, not a field of a queue, because it describes the platform, not a team:
the platform team declares it once, many queues hold quota on it by name, and queues of a cohort share
and borrow a flavor's quota because they mean the same nodes by the same name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from park.core.meta import BaseStatus, ParkModel
from park.core.resources import Resource, Toleration


class ParkResourceFlavorSpec(ParkModel):
    accelerator: str | None = Field(
        None,
        min_length=1,
        description="The gpu type of the flavor's nodes (nvidia-h100): a workload that names an accelerator "
        "is admitted only on flavors with that one",
    )
    node_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels of the flavor's nodes: on Kubernetes they become the nodeSelector of the pods "
        "admitted on it",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=32,
        description="Added to the pods admitted on the flavor, so they may run on its tainted nodes",
    )


class ParkResourceFlavorStatus(BaseStatus):
    pass


class ParkResourceFlavor(Resource[ParkResourceFlavorSpec, ParkResourceFlavorStatus]):
    kind: Literal["ParkResourceFlavor"] = "ParkResourceFlavor"
    spec: ParkResourceFlavorSpec = Field(default_factory=ParkResourceFlavorSpec)
    status: ParkResourceFlavorStatus = Field(default_factory=ParkResourceFlavorStatus)
