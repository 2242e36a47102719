"""The registry of kinds: names, plurals, short names and scope, used by the store, API and CLI.

`short_names` go into the CRDs, so kubectl resolves them too: none may be a short name or a resource
name Kubernetes itself serves (`pc` is PriorityClass, `svc` Service, `node` Node), or `kubectl get`
would answer with the other resource. `aliases` are further spellings only Park's own CLI and console
accept (`park get nodes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from park.core.errors import InvalidError
from park.core.flavors import ParkResourceFlavor
from park.core.resources import (
    AnyResource,
    FederatedNode,
    ParkCluster,
    ParkJob,
    ParkPriorityClass,
    ParkQueue,
    ParkService,
)


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    namespaced: bool
    model: type[AnyResource]
    aliases: tuple[str, ...] = ()

    def parse(self, data: dict[str, Any]) -> AnyResource:
        return self.model.model_validate(data)


KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(
            "ParkCluster", "clusters", "cluster", ("pcl",), True, ParkCluster, ("parkcluster", "parkclusters")
        ),
        KindInfo("ParkJob", "jobs", "job", ("pj",), True, ParkJob, ("parkjob", "parkjobs")),
        KindInfo(
            "ParkService", "services", "service", ("ps",), True, ParkService, ("parkservice", "parkservices")
        ),
        KindInfo("ParkQueue", "queues", "queue", ("pq",), False, ParkQueue, ("parkqueue", "parkqueues")),
        KindInfo(
            "ParkPriorityClass",
            "priorityclasses",
            "priorityclass",
            ("ppc",),
            False,
            ParkPriorityClass,
            ("parkpriorityclass", "parkpriorityclasses"),
        ),
        KindInfo(
            "ParkResourceFlavor",
            "resourceflavors",
            "resourceflavor",
            ("prf",),
            False,
            ParkResourceFlavor,
            ("flavor", "flavors", "parkresourceflavor", "parkresourceflavors"),
        ),
        KindInfo(
            "FederatedNode",
            "federatednodes",
            "federatednode",
            ("fn",),
            False,
            FederatedNode,
            ("node", "nodes"),
        ),
    )
}


def kind_info(name: str) -> KindInfo:
    """Resolve a kind from any of its spellings: ParkJob, jobs, job, pj."""
    wanted = name.lower()
    for info in KINDS.values():
        if wanted in (info.kind.lower(), info.plural, info.singular, *info.short_names, *info.aliases):
            return info
    known = ", ".join(info.plural for info in KINDS.values())
    raise InvalidError(f"unknown kind {name!r}; known kinds: {known}")


def by_plural(plural: str) -> KindInfo:
    for info in KINDS.values():
        if info.plural == plural:
            return info
    raise InvalidError(f"unknown resource type {plural!r}")
