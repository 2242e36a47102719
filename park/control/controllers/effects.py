"""Carrying out the store-side actions of a plan against one object, skipping no-op writes."""

from __future__ import annotations

import logging

from park.control.reconcile.actions import Action, AddFinalizer, RecordEvent, RemoveFinalizer, WriteStatus
from park.control.store import Store
from park.core.resources import AnyResource

logger = logging.getLogger(__name__)


class ObjectWriter:
    """Holds the latest version of one object while a plan's actions are applied to it."""

    def __init__(self, store: Store, obj: AnyResource) -> None:
        self._store = store
        self.obj = obj

    def apply(self, action: Action) -> bool:
        """Apply a store-side action; returns False for actions that are not the store's."""
        match action:
            case AddFinalizer(name=name):
                if name not in self.obj.metadata.finalizers:
                    self._update_metadata(finalizers=[*self.obj.metadata.finalizers, name])
            case RemoveFinalizer(name=name):
                if name in self.obj.metadata.finalizers:
                    kept = [f for f in self.obj.metadata.finalizers if f != name]
                    self._update_metadata(finalizers=kept)
            case WriteStatus(status=status):
                if status != self.obj.status:
                    self.obj = self._store.update_status(self.obj.model_copy(update={"status": status}))
            case RecordEvent(type=type_, reason=reason, message=message):
                logger.info("%s: %s: %s", self.obj.key, reason, message)
                self._store.record_event(self.obj, type=type_, reason=reason, message=message)
            case _:
                return False
        return True

    def _update_metadata(self, **changes: object) -> None:
        metadata = self.obj.metadata.model_copy(update=changes)
        self.obj = self._store.update(self.obj.model_copy(update={"metadata": metadata}))
