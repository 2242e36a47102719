"""What the scheduler tells one object it cannot schedule, instead of failing the cycle for every object.

- An object the store cannot decode (`InvalidObject`, written before a rule existed): a Warning event
  `Invalid` naming the field. It cannot be scheduled, and nothing else waits for it.
- A workload the engine refuses (a value no model rule caught): a Warning event `Unschedulable`.
- A waiting job or service whose ParkPriorityClass does not exist: it stays Queued with the condition
  `Admissible=False` (reason `UnknownPriorityClass`), its admission message says why, and a Warning
  event names the class. Kubernetes refuses such a Pod at admission; a CRD schema cannot look up
  another object, so Park says it on the object. The condition turns True once the class exists.

Events are recorded once per problem, not every cycle; status is written only when it changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from park.control.controllers.admission import priority_class_problem
from park.control.store import Store
from park.control.store.interface import InvalidObject
from park.core.clock import Clock
from park.core.errors import ConflictError, NotFoundError, ParkError
from park.core.meta import Condition, set_condition
from park.core.resources import Admission, AnyResource, ParkJob, ParkService, ResourceKey, ServiceAdmission

logger = logging.getLogger(__name__)
ADMISSIBLE = "Admissible"
UNKNOWN_PRIORITY_CLASS = "UnknownPriorityClass"
Workload = TypeVar("Workload", ParkJob, ParkService)


class ObjectProblems:
    def __init__(self, *, store: Store, clock: Clock, written: Callable[[AnyResource], None]) -> None:
        self._store = store
        self._clock = clock
        self._written = written  # told every object this writes (the scheduler's cache)
        self._reported: set[tuple[ResourceKey, str, str]] = set()

    def invalid(self, objects: Iterable[InvalidObject]) -> None:
        for obj in objects:
            self._warn_once(obj, "Invalid", f"Park cannot read it, so it is not scheduled: {obj.problem}")

    def refused(self, obj: AnyResource, problem: str) -> None:
        self._warn_once(obj, "Unschedulable", f"left out of scheduling: {problem}")

    def admissible(self, objects: Iterable[Workload], classes: Mapping[str, int]) -> list[Workload]:
        """Each job or service as stored once its `Admissible` condition is up to date."""
        return [self._admissible(obj, classes) for obj in objects]

    def _admissible(self, obj: Workload, classes: Mapping[str, int]) -> Workload:
        problem = priority_class_problem(obj, classes)
        current = next((c for c in obj.status.conditions if c.type == ADMISSIBLE), None)
        if problem is not None:
            condition = Condition(
                type=ADMISSIBLE, status="False", reason=UNKNOWN_PRIORITY_CLASS, message=problem
            )
        elif current is not None and current.status == "False" and obj.spec.priority_class_name in classes:
            condition = Condition(type=ADMISSIBLE, status="True", reason="PriorityClassFound")
        else:
            return obj
        if current is not None and current.model_copy(update={"last_transition_time": None}) == condition:
            return obj
        updated = self._write(obj, condition, problem)
        if updated is not None and problem is not None:  # written only when it changed: one event
            self._warning(updated, UNKNOWN_PRIORITY_CLASS, problem)
        return updated if updated is not None else obj

    def _write(self, obj: Workload, condition: Condition, problem: str | None) -> Workload | None:
        conditions = set_condition(obj.status.conditions, condition, now=self._clock.now())
        update: dict[str, object] = {"conditions": conditions}
        if problem is not None:  # waiting, told why; nothing granted while it is left out
            queue = obj.spec.queue
            admission = Admission if isinstance(obj, ParkJob) else ServiceAdmission
            update["admission"] = admission(queue=queue, message=problem)
        try:
            updated = self._store.update_status(
                obj.model_copy(update={"status": obj.status.model_copy(update=update)})
            )
        except (ConflictError, NotFoundError):
            return None  # changed meanwhile: the next cycle sees the newer object
        assert isinstance(updated, type(obj))
        self._written(updated)
        return updated

    def _warn_once(self, obj: AnyResource | InvalidObject, reason: str, message: str) -> None:
        uid = obj.uid if isinstance(obj, InvalidObject) else obj.metadata.uid or ""
        marker = (obj.key, uid, message)
        if marker not in self._reported and self._warning(obj, reason, message):
            self._reported.add(marker)

    def _warning(self, obj: AnyResource | InvalidObject, reason: str, message: str) -> bool:
        logger.warning("%s: %s", obj.key, message)
        try:
            self._store.record_event(obj, type="Warning", reason=reason, message=message)
        except ParkError as exc:  # an event is a courtesy: the cycle goes on without it
            logger.warning("%s: could not record the event %s (%s)", obj.key, reason, exc)
            return False
        return True
