"""What a view is: a kind's columns and how one object becomes a row of text cells."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from park.core.resources import AnyResource

Cells = tuple[str, ...]


@dataclass(frozen=True)
class ViewSpec:
    """One kind's table. `cells` gets the object and `now` (injected, so screenshots are deterministic).

    `columns` come after NAMESPACE and NAME; a long free-text column goes last, after AGE, so that at
    80 columns only the message is cut, never the age.
    """

    kind: str
    name: str
    aliases: tuple[str, ...]
    namespaced: bool
    columns: tuple[str, ...]
    cells: Callable[[AnyResource, datetime], Cells]
    actions: frozenset[str] = field(default_factory=frozenset)

    @property
    def headers(self) -> Cells:
        return (("NAMESPACE",) if self.namespaced else ()) + ("NAME", *self.columns)

    def row(self, obj: AnyResource, now: datetime) -> Cells:
        """The full row: namespace and name, then the kind's own columns."""
        meta = obj.metadata
        return ((meta.namespace or "",) if self.namespaced else ()) + (meta.name, *self.cells(obj, now))
