"""Stored bodies decoded one at a time, so an object Park's model refuses hides only itself.

Both stores read through here: a body that does not validate becomes an `InvalidObject` (kind, name,
uid and the problem in one line), which lists report, watches skip and `get` turns into an error that
names the object. Each is logged once per problem, however often it is listed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from park.control.store.interface import InvalidObject
from park.core.errors import InvalidError
from park.core.resources import AnyResource, ResourceKey

logger = logging.getLogger(__name__)


def invalid_object(kind: str, body: object, problem: str) -> InvalidObject:
    """What can be said of an object whose body the model refuses: its identity, read leniently."""
    metadata: Any = body.get("metadata") if isinstance(body, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    return InvalidObject(
        kind=kind,
        namespace=str(metadata.get("namespace") or "") or None,
        name=str(metadata.get("name") or "?"),
        uid=str(metadata.get("uid") or ""),
        problem=problem,
    )


def unreadable(invalid: InvalidObject) -> InvalidError:
    """The error for reading one such object: what is wrong and what to do."""
    return InvalidError(f"{invalid}; fix it or delete it")


def split(
    decoded: Iterable[AnyResource | InvalidObject],
) -> tuple[list[AnyResource], list[InvalidObject]]:
    items: list[AnyResource] = []
    invalid: list[InvalidObject] = []
    for obj in decoded:
        (invalid if isinstance(obj, InvalidObject) else items).append(obj)  # type: ignore[arg-type]
    return items, invalid


def reference(obj: AnyResource | InvalidObject) -> tuple[str, str | None, str, str]:
    """(kind, namespace, name, uid): what an event needs of the object it is about."""
    if isinstance(obj, InvalidObject):
        return obj.kind, obj.namespace, obj.name, obj.uid
    return obj.kind, obj.metadata.namespace, obj.metadata.name, obj.metadata.uid or ""


class InvalidLog:
    """Logs each invalid object once per (uid, problem), so a list every second is not a log line a second."""

    def __init__(self) -> None:
        self._seen: set[tuple[ResourceKey, str, str]] = set()
        self._lock = threading.Lock()

    def report(self, invalid: InvalidObject) -> None:
        marker = (invalid.key, invalid.uid, invalid.problem)
        with self._lock:
            if marker in self._seen:
                return
            self._seen.add(marker)
        logger.warning("%s; it is left out of lists and watches until it is fixed or deleted", invalid)
