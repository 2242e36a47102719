"""The kopf handlers: every change of a Park object or of the KubeRay object it owns reconciles the owner.

Create, update and resume handlers get kopf's retries (a failure is retried with backoff); the watch-event
handlers catch what those never see: status changes, above all the scheduler's `status.admission`, which
suspends or resumes a ParkJob's RayJob, and KubeRay's status on the children, mirrored to the owner.
kopf posts its own events only for failures; Park's events are written by the reconcilers.
No finalizers: children carry owner references, so the garbage collector removes them with the owner.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from park.core.meta import API_GROUP
from park.operator.children import PLURALS, RAY_GROUP, RAY_VERSION
from park.operator.crds import VERSION
from park.operator.kuberay import MANAGED_BY, MANAGER, OWNER_KIND, OWNER_NAME
from park.operator.reconcilers import Reconcilers

logger = logging.getLogger(__name__)
OWNED = {"ParkCluster": "RayCluster", "ParkJob": "RayJob", "ParkService": "RayService"}
PARK_PLURALS = {"ParkCluster": "parkclusters", "ParkJob": "parkjobs", "ParkService": "parkservices"}


def build_registry(reconcilers: Reconcilers) -> kopf.OperatorRegistry:
    """A registry of handlers bound to these reconcilers (no module-level state: tests build their own)."""
    registry = kopf.OperatorRegistry()
    for kind, child in OWNED.items():
        _register_owner(registry, reconcilers, kind)
        _register_child(registry, reconcilers, kind, child)
    return registry


def _register_owner(registry: kopf.OperatorRegistry, reconcilers: Reconcilers, kind: str) -> None:
    plural = PARK_PLURALS[kind]

    def converge(*, name: str, namespace: str | None, **_: Any) -> None:
        reconcilers.reconcile(kind, namespace or "default", name)

    def on_event(*, name: str, namespace: str | None, type: str, **_: Any) -> None:
        if type == "DELETED":
            return
        try:
            reconcilers.reconcile(kind, namespace or "default", name)
        except Exception:  # event handlers are not retried: the next event or the timer converges
            logger.exception("reconciling %s %s/%s after a watch event", kind, namespace, name)

    kopf.on.create(API_GROUP, VERSION, plural, registry=registry, id=f"create-{plural}")(converge)
    kopf.on.update(API_GROUP, VERSION, plural, registry=registry, id=f"update-{plural}")(converge)
    kopf.on.resume(API_GROUP, VERSION, plural, registry=registry, id=f"resume-{plural}")(converge)
    kopf.on.event(API_GROUP, VERSION, plural, registry=registry, id=f"event-{plural}")(on_event)
    kopf.timer(API_GROUP, VERSION, plural, interval=30, idle=10, registry=registry, id=f"resync-{plural}")(
        converge
    )


def _register_child(registry: kopf.OperatorRegistry, reconcilers: Reconcilers, kind: str, child: str) -> None:
    def on_child(*, labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
        owner = labels.get(OWNER_NAME)
        if owner is None:
            return
        try:
            reconcilers.reconcile(kind, namespace or "default", owner)
        except Exception:
            logger.exception("mirroring %s %s/%s onto its %s", child, namespace, owner, kind)

    kopf.on.event(
        RAY_GROUP,
        RAY_VERSION,
        PLURALS[child],
        labels={MANAGED_BY: MANAGER, OWNER_KIND: kind},
        registry=registry,
        id=f"mirror-{PLURALS[child]}",
    )(on_child)
