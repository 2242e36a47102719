"""Objects a fresh embedded platform starts with, so `park apply` of a plain job just runs."""

from __future__ import annotations

import contextlib
import os

from park.control.store import Store
from park.core.errors import AlreadyExistsError
from park.core.meta import ObjectMeta
from park.core.resources import (
    ComputeResources,
    HeadSpec,
    ParkCluster,
    ParkClusterSpec,
    ParkQueue,
    ParkQueueSpec,
    QueuePreemption,
)


def default_objects(cpus: float) -> list[ParkCluster | ParkQueue]:
    quota = ComputeResources(cpu=format(cpus, "g"))
    return [
        ParkCluster(
            metadata=ObjectMeta(name="default", namespace="default", labels={"park.dev/default": "true"}),
            spec=ParkClusterSpec(head=HeadSpec(resources=quota)),
        ),
        ParkQueue(
            metadata=ObjectMeta(name="default", labels={"park.dev/default": "true"}),
            # Higher priority preempts lower within the default queue: a serving spike takes CPUs
            # from training, which checkpoints and resumes when the spike is over.
            spec=ParkQueueSpec(nominal_quota=quota, preemption=QueuePreemption(within_queue="LowerPriority")),
        ),
    ]


def ensure_defaults(store: Store, *, cpus: float | None = None) -> None:
    """Create the default cluster and queue once; a user's later edits or deletion are respected."""
    marker = store.list("ParkQueue").items or store.list("ParkCluster").items
    if marker:
        return
    for obj in default_objects(cpus or float(os.cpu_count() or 1)):
        with contextlib.suppress(AlreadyExistsError):
            store.create(obj)
