"""The kopf handlers: every change of a Park object or of the KubeRay object it owns reconciles the owner.

Create, update and resume handlers get kopf's retries (a failure is retried with backoff); the watch-event
handlers catch what those never see: status changes, above all the scheduler's `status.admission`, which
suspends or resumes a ParkJob's RayJob, and KubeRay's status on the children, mirrored to the owner.
kopf does not retry event handlers, so they retry a failed reconcile themselves (`RETRY_DELAYS_S`); the
resync timer (`PARK_OPERATOR_RESYNC_SECONDS`, 300 s) is only the last resort. Every timer tick costs
two GETs per object, so at 30 s a thousand idle objects kept ~70% of a core and the API server busy.
kopf posts its own events only for failures; Park's events are written by the reconcilers.
An object Park cannot read (applied before its CRD had a rule) is not retried: nothing changes until the
object does, and that change calls the handlers again. The store logs it once; the scheduler warns on it.
No finalizers: children carry owner references, so the garbage collector removes them with the owner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from park.control.reconcile.service import JOB_MODEL_PREFIX
from park.core.errors import InvalidError
from park.core.meta import API_GROUP
from park.operator.crds import VERSION
from park.operator.reconcilers import Reconcilers
from park.operator.settings import DEFAULT_RESYNC_SECONDS
from park.substrates.kuberay_objects import PLURALS, RAY_GROUP, RAY_VERSION
from park.substrates.kuberay_specs import MANAGED_BY, MANAGER, OWNER_KIND, OWNER_NAME

logger = logging.getLogger(__name__)
# ParkJobs are not kopf's: the Lease holder runs the ParkJob controller of `park up` (see runner.py).
OWNED = {"ParkCluster": "RayCluster", "ParkService": "RayService"}
PARK_PLURALS = {"ParkCluster": "parkclusters", "ParkService": "parkservices"}
RETRY_DELAYS_S = (0.5, 2.0, 8.0)
MODEL_POLL_SECONDS = 5.0
"""How often a ParkService waiting for a `job:<name>` model's checkpoint looks again (ParkJobs are not
kopf's, so no event tells it; the timer runs only while the service waits)."""


def build_registry(
    reconcilers: Reconcilers,
    *,
    resync_seconds: float = DEFAULT_RESYNC_SECONDS,
    retry_delays: Sequence[float] = RETRY_DELAYS_S,
) -> kopf.OperatorRegistry:
    """A registry of handlers bound to these reconcilers (no module-level state: tests build their own)."""
    registry = kopf.OperatorRegistry()
    for kind, child in OWNED.items():
        _register_owner(registry, reconcilers, kind, resync_seconds, retry_delays)
        _register_child(registry, reconcilers, kind, child, retry_delays)
    _register_model_wait(registry, reconcilers)
    return registry


def waits_for_a_model(*, spec: Mapping[str, Any], status: Mapping[str, Any], **_: Any) -> bool:
    """Pending, with an application serving `job:<name>`: it waits for that job's checkpoint."""
    if status.get("phase") != "Pending":
        return False
    for app in spec.get("applications") or []:
        args = app.get("args") if isinstance(app, Mapping) else None
        model = args.get("model") if isinstance(args, Mapping) else None
        if isinstance(model, str) and model.startswith(JOB_MODEL_PREFIX):
            return True
    return False


def _register_model_wait(registry: kopf.OperatorRegistry, reconcilers: Reconcilers) -> None:
    def look_again(*, name: str, namespace: str | None, **_: Any) -> None:
        try:
            reconcilers.reconcile("ParkService", namespace or "default", name)
        except InvalidError as exc:
            logger.debug("not reconciling ParkService %s/%s: %s", namespace, name, exc)

    kopf.timer(
        API_GROUP,
        VERSION,
        PARK_PLURALS["ParkService"],
        interval=MODEL_POLL_SECONDS,
        when=waits_for_a_model,
        registry=registry,
        id="models-parkservices",
    )(look_again)


def _reconcile_retrying(
    reconcilers: Reconcilers, kind: str, namespace: str, name: str, delays: Sequence[float], why: str
) -> None:
    """Reconcile; after a failure wait and try again. It runs in one of kopf's worker threads, and kopf
    handles one object's events in order, so the wait holds back only this object's later events (which
    kopf then batches into one)."""
    for attempt, delay in enumerate([*delays, None], start=1):
        try:
            reconcilers.reconcile(kind, namespace, name)
            return
        except InvalidError as exc:
            logger.debug("not reconciling %s %s/%s: %s", kind, namespace, name, exc)
            return
        except Exception:
            if delay is None:
                logger.exception(
                    "reconciling %s %s/%s %s failed %d times; the resync timer tries again",
                    kind, namespace, name, why, attempt,
                )  # fmt: skip
                return
            logger.warning(
                "reconciling %s %s/%s %s failed (attempt %d); again in %.1fs",
                kind, namespace, name, why, attempt, delay, exc_info=True,
            )  # fmt: skip
            time.sleep(delay)


def _register_owner(
    registry: kopf.OperatorRegistry,
    reconcilers: Reconcilers,
    kind: str,
    resync_seconds: float,
    retry_delays: Sequence[float],
) -> None:
    plural = PARK_PLURALS[kind]

    def converge(*, name: str, namespace: str | None, **_: Any) -> None:
        try:
            reconcilers.reconcile(kind, namespace or "default", name)
        except InvalidError as exc:  # retrying cannot help: the next change of the object calls again
            raise kopf.PermanentError(str(exc)) from exc

    def resync(*, name: str, namespace: str | None, **_: Any) -> None:
        try:
            reconcilers.reconcile(kind, namespace or "default", name)
        except InvalidError as exc:
            logger.debug("not reconciling %s %s/%s: %s", kind, namespace, name, exc)

    def on_event(*, name: str, namespace: str | None, type: str, **_: Any) -> None:
        if type == "DELETED":
            return
        _reconcile_retrying(
            reconcilers, kind, namespace or "default", name, retry_delays, "after a watch event"
        )

    kopf.on.create(API_GROUP, VERSION, plural, registry=registry, id=f"create-{plural}")(converge)
    kopf.on.update(API_GROUP, VERSION, plural, registry=registry, id=f"update-{plural}")(converge)
    kopf.on.resume(API_GROUP, VERSION, plural, registry=registry, id=f"resume-{plural}")(converge)
    kopf.on.event(API_GROUP, VERSION, plural, registry=registry, id=f"event-{plural}")(on_event)
    kopf.timer(
        API_GROUP,
        VERSION,
        plural,
        interval=resync_seconds,
        idle=min(10.0, resync_seconds),
        registry=registry,
        id=f"resync-{plural}",
    )(resync)


def _register_child(
    registry: kopf.OperatorRegistry,
    reconcilers: Reconcilers,
    kind: str,
    child: str,
    retry_delays: Sequence[float],
) -> None:
    def on_child(*, labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
        owner = labels.get(OWNER_NAME)
        if owner is None:
            return
        _reconcile_retrying(
            reconcilers, kind, namespace or "default", owner, retry_delays, f"after its {child} changed"
        )

    kopf.on.event(
        RAY_GROUP,
        RAY_VERSION,
        PLURALS[child],
        labels={MANAGED_BY: MANAGER, OWNER_KIND: kind},
        registry=registry,
        id=f"mirror-{PLURALS[child]}",
    )(on_child)
