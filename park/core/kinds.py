"""The registry of kinds: names, plurals, short names and scope, used by the store, API and CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from park.core.errors import InvalidError
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

    def parse(self, data: dict[str, Any]) -> AnyResource:
        return self.model.model_validate(data)


KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo(
            "ParkCluster", "clusters", "cluster", ("pc", "parkcluster", "parkclusters"), True, ParkCluster
        ),
        KindInfo("ParkJob", "jobs", "job", ("pj", "parkjob", "parkjobs"), True, ParkJob),
        KindInfo(
            "ParkService",
            "services",
            "service",
            ("ps", "svc", "parkservice", "parkservices"),
            True,
            ParkService,
        ),
        KindInfo("ParkQueue", "queues", "queue", ("pq", "parkqueue", "parkqueues"), False, ParkQueue),
        KindInfo(
            "ParkPriorityClass",
            "priorityclasses",
            "priorityclass",
            ("ppc", "parkpriorityclass", "parkpriorityclasses"),
            False,
            ParkPriorityClass,
        ),
        KindInfo(
            "FederatedNode",
            "federatednodes",
            "federatednode",
            ("fn", "node", "nodes"),
            False,
            FederatedNode,
        ),
    )
}


def kind_info(name: str) -> KindInfo:
    """Resolve a kind from any of its spellings: ParkJob, jobs, job, pj."""
    wanted = name.lower()
    for info in KINDS.values():
        if wanted in (info.kind.lower(), info.plural, info.singular, *info.short_names):
            return info
    known = ", ".join(info.plural for info in KINDS.values())
    raise InvalidError(f"unknown kind {name!r}; known kinds: {known}")


def by_plural(plural: str) -> KindInfo:
    for info in KINDS.values():
        if info.plural == plural:
            return info
    raise InvalidError(f"unknown resource type {plural!r}")
