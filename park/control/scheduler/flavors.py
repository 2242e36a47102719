"""Resource flavors: a queue's quota per kind of node (a gpu type, a zone), as Kueue's ResourceFlavor.

The engine counts a flavor's resources under their own names (`gpu@h100-us-east`, `cpu@h100-us-east`),
so everything the quota book does per resource (nominal, borrowing and lending limits, the cohort's
pool, fair shares, preemption) holds per flavor without a second ledger: queues of a cohort share a
flavor by its name, and a flavor's cpu is not another flavor's cpu. A queue without flavors counts
plain names, exactly as before flavors existed.

A workload is offered its queue's flavors in the queue's order; one whose demand names a typed gpu
(`gpu/nvidia-h100`, from `accelerator: nvidia-h100`) is offered only the flavors with that accelerator.
The typed name is not charged on a flavor: the flavor is the gpu type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NewType

from park.control.scheduler.resources import FLAVOR_SEPARATOR, GPU_FLAVOR_PREFIX, Resources

FlavorName = NewType("FlavorName", str)


@dataclass(frozen=True)
class FlavorQuota:
    """A queue's quota on one flavor. Limits name only what they bound, as a queue's own limits do."""

    name: FlavorName
    nominal: Resources
    accelerator: str | None = None
    """The gpu type of the flavor's nodes: a workload that names a gpu type fits only flavors with it."""
    borrowing_limit: Resources | None = None
    lending_limit: Resources | None = None


def flavored(resource: str, flavor: str) -> str:
    return f"{resource}{FLAVOR_SEPARATOR}{flavor}"


def split(name: str) -> tuple[str, FlavorName | None]:
    """`gpu@h100` → (`gpu`, `h100`); a plain name has no flavor."""
    resource, sep, flavor = name.partition(FLAVOR_SEPARATOR)
    return (resource, FlavorName(flavor)) if sep else (name, None)


def flavor_of(amounts: Mapping[str, int]) -> FlavorName | None:
    """The flavor a charged vector is on (None: a plain queue's, or a vector that asks for nothing)."""
    return next((f for f in (split(name)[1] for name in amounts) if f is not None), None)


def by_flavor(resources: Resources) -> tuple[dict[str, int], dict[FlavorName, Resources]]:
    """Plain amounts, and each flavor's amounts under plain names: how queue status shows usage."""
    plain: dict[str, int] = {}
    per: dict[FlavorName, dict[str, int]] = {}
    for name, amount in resources.nonzero().items():
        resource, flavor = split(name)
        if flavor is None:
            plain[resource] = amount
        else:
            per.setdefault(flavor, {})[resource] = amount
    return plain, {flavor: Resources(amounts) for flavor, amounts in per.items()}


def totals(resources: Resources) -> Resources:
    """Every flavor's amounts added to the plain ones: what the queue holds of each resource."""
    summed: dict[str, int] = {}
    for name, amount in resources.nonzero().items():
        resource = split(name)[0]
        summed[resource] = summed.get(resource, 0) + amount
    return Resources(summed)


def _flatten(parts: Iterable[tuple[FlavorName, Resources | None]]) -> Resources | None:
    """One vector over flavored names; None when no flavor sets this limit (unbounded, as without)."""
    chosen = [(flavor, r) for flavor, r in parts if r is not None]
    if not chosen:
        return None
    return Resources({flavored(name, flavor): amount for flavor, r in chosen for name, amount in r.items()})


def quota_vectors(
    flavors: Sequence[FlavorQuota],
) -> tuple[Resources, Resources | None, Resources | None]:
    """(nominal, borrowing limit, lending limit) of a flavored queue, over flavored names, in order."""
    nominal = _flatten((f.name, f.nominal) for f in flavors)
    return (
        nominal if nominal is not None else Resources(),
        _flatten((f.name, f.borrowing_limit) for f in flavors),
        _flatten((f.name, f.lending_limit) for f in flavors),
    )


def wanted_accelerators(raw: Mapping[str, int]) -> set[str]:
    return {name.removeprefix(GPU_FLAVOR_PREFIX) for name in raw if name.startswith(GPU_FLAVOR_PREFIX)}


def on_flavor(raw: Mapping[str, int], flavor: str) -> dict[str, int]:
    """The demand charged on one flavor (its typed gpu names dropped: the flavor is the gpu type)."""
    return {flavored(name, flavor): v for name, v in raw.items() if not name.startswith(GPU_FLAVOR_PREFIX)}


def flavor_options(flavors: Sequence[FlavorQuota], raw: Mapping[str, int]) -> list[dict[str, int]]:
    """The demand on each flavor that may run it, in the queue's order."""
    wanted = wanted_accelerators(raw)
    return [on_flavor(raw, f.name) for f in flavors if wanted <= {f.accelerator}]
