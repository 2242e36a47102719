"""Scheduler decisions about service replicas → `ParkService.status.admission`, one write per service.

A cycle may admit several replicas of one service; they are counted per `application/deployment` and
written together. Grants above Serve's current target are returned (Serve scaled down), and the service
becomes `Admitted` the first time every replica it asks for is granted: only then is it deployed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from park.control.controllers.admission import WHOLE_SERVICE, parse_replica_id, service_id, wants_capacity
from park.control.scheduler import Admit, Decision, Preempt, Wait
from park.control.store import Store
from park.core.errors import ConflictError, NotFoundError
from park.core.flavors import ParkResourceFlavor
from park.core.resources import AnyResource, ParkService, ServiceAdmission

logger = logging.getLogger(__name__)


@dataclass
class _Change:
    added: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    nominated: bool = False
    flavor: str | None = None


class ServiceGrants:
    """Collects one cycle's decisions for services, then writes each changed service once."""

    def __init__(
        self,
        store: Store,
        services: list[ParkService],
        *,
        whole: bool = False,
        written: Callable[[AnyResource], None] = lambda _: None,
        flavors: Mapping[str, ParkResourceFlavor] | None = None,
    ) -> None:
        """A service admitted whole (`WHOLE_SERVICE`: its own Ray cluster, on KubeRay) is granted every
        replica it asks for, now and after its targets change; others replica by replica. `flavors`: the
        ParkResourceFlavors by name, whose placement a service admitted on one records."""
        self._flavors = flavors or {}
        self._store = store
        self._whole = whole
        self._written = written  # told every service this writes (the scheduler's cache)
        self._services = {service_id(s): s for s in services if wants_capacity(s)}
        self._changes: dict[str, _Change] = {}

    def take(self, decision: Decision) -> bool:
        """Record a decision about a service replica; False when it is about a job."""
        match decision:
            case Admit(workload=workload, reason=reason, flavor=flavor):
                parsed = parse_replica_id(workload)
                if parsed is None:
                    return False
                change = self._change(parsed[0])
                if not self._same_flavor(parsed[0], change, flavor):
                    return True  # not granted: next cycle it may only go where the others run
                change.added[parsed[1]] = change.added.get(parsed[1], 0) + 1
                change.message = reason
            case Wait(workload=workload, reason=reason):
                parsed = parse_replica_id(workload)
                if parsed is None:
                    return False
                self._change(parsed[0]).message = reason
            case Preempt(by=by):
                parsed = parse_replica_id(by)
                if parsed is None:
                    return False
                self._change(parsed[0]).nominated = True  # the victim (a job) is handled by the caller
                return False
        return True

    def write(self, now: datetime) -> None:
        for key, service in self._services.items():
            change = self._changes.get(key, _Change())
            admission = self._next(service, change, now, whole=self._whole, flavors=self._flavors)
            if admission == service.status.admission:
                continue
            first = admission.admitted_at is not None and (
                service.status.admission is None or service.status.admission.admitted_at is None
            )
            status = service.status.model_copy(update={"admission": admission})
            try:
                updated = self._store.update_status(service.model_copy(update={"status": status}))
            except (ConflictError, NotFoundError):
                continue  # changed meanwhile: the next cycle sees the new version
            self._written(updated)
            before = service.status.admission.replicas if service.status.admission else {}
            granted = ", ".join(f"{d}: {n} replica(s)" for d, n in sorted(admission.replicas.items()))
            if first:
                message = granted or "no replicas up front"
                self._store.record_event(updated, type="Normal", reason="Admitted", message=message)
                logger.info("%s admitted: %s", updated.key, message)
            elif admission.replicas != before and admission.admitted_at is not None:
                reason = "Scaled" if sum(admission.replicas.values()) > sum(before.values()) else "Released"
                message = granted or "no replicas"
                self._store.record_event(updated, type="Normal", reason=reason, message=message)

    def _change(self, key: str) -> _Change:
        return self._changes.setdefault(key, _Change())

    def _same_flavor(self, key: str, change: _Change, flavor: str | None) -> bool:
        """Whether a replica admitted on `flavor` joins the service's (the first one admitted sets it)."""
        service = self._services.get(key)
        current = service.status.admission if service is not None else None
        held = (current.flavor if current is not None else None) or change.flavor
        if held is None:
            change.flavor = flavor
            return True
        return held == flavor

    @staticmethod
    def _next(
        service: ParkService,
        change: _Change,
        now: datetime,
        *,
        whole: bool,
        flavors: Mapping[str, ParkResourceFlavor],
    ) -> ServiceAdmission:
        current = service.status.admission or ServiceAdmission(queue=service.spec.queue)
        targets = {d.key: d.target_replicas for d in service.status.deployments}
        whole = WHOLE_SERVICE in change.added or (whole and current.admitted_at is not None)
        replicas = {
            key: target if whole else min(current.replicas.get(key, 0) + change.added.get(key, 0), target)
            for key, target in targets.items()
        }
        replicas = {key: count for key, count in replicas.items() if count}
        complete = all(replicas.get(key, 0) >= target for key, target in targets.items())
        admitted_at = current.admitted_at or (now if complete else None)
        message = change.message if change.message is not None else current.message
        if complete:
            message = "all replicas Serve asks for are granted"
        nominated = (current.nominated or change.nominated) and not complete
        admission = ServiceAdmission(
            queue=service.spec.queue,
            replicas=replicas,
            admitted_at=admitted_at,
            message=message,
            nominated=nominated,
            flavor=current.flavor,
            node_selector=current.node_selector,
            tolerations=current.tolerations,
        )
        if current.flavor is None and change.flavor is not None:
            return _placed(admission, change.flavor, flavors.get(change.flavor))
        return admission


def _placed(admission: ServiceAdmission, name: str, flavor: ParkResourceFlavor | None) -> ServiceAdmission:
    """The service's first replicas went to flavor `name`: so do all others, on its nodes."""
    spec = flavor.spec if flavor is not None else None
    return admission.model_copy(
        update={
            "flavor": name,
            "node_selector": dict(spec.node_labels) if spec is not None else None,
            "tolerations": list(spec.tolerations) if spec is not None else None,
        }
    )


__all__ = ["ServiceGrants"]
