"""What the scheduler tells one object it cannot schedule, instead of failing the cycle for every object.

- An object the store cannot decode (`InvalidObject`, written before a rule existed): a Warning event
  `Invalid` naming the field. It cannot be scheduled, and nothing else waits for it.
- A workload the engine refuses (a value no model rule caught): a Warning event `Unschedulable`.

Events are recorded once per problem, not every cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from park.control.store import Store
from park.control.store.interface import InvalidObject
from park.core.errors import ParkError
from park.core.resources import AnyResource, ResourceKey

logger = logging.getLogger(__name__)


class ObjectProblems:
    def __init__(self, *, store: Store) -> None:
        self._store = store
        self._reported: set[tuple[ResourceKey, str, str]] = set()

    def invalid(self, objects: Iterable[InvalidObject]) -> None:
        for obj in objects:
            self._warn_once(obj, "Invalid", f"Park cannot read it, so it is not scheduled: {obj.problem}")

    def refused(self, obj: AnyResource, problem: str) -> None:
        self._warn_once(obj, "Unschedulable", f"left out of scheduling: {problem}")

    def _warn_once(self, obj: AnyResource | InvalidObject, reason: str, message: str) -> None:
        uid = obj.uid if isinstance(obj, InvalidObject) else obj.metadata.uid or ""
        marker = (obj.key, uid, message)
        if marker in self._reported:
            return
        try:
            self._store.record_event(obj, type="Warning", reason=reason, message=message)
        except ParkError as exc:  # an event is a courtesy: the cycle goes on without it
            logger.warning("%s: could not record the event %s (%s)", obj.key, reason, exc)
            return
        self._reported.add(marker)
        logger.warning("%s: %s", obj.key, message)
