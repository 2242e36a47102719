"""The resource table: rows keyed by object, updated cell by cell so the cursor never jumps."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

Cells = tuple[str, ...]

MAX_WIDTH = 60  # a long message is cut here (describe shows it whole) rather than pushing columns away


def matches(cells: Cells, needle: str) -> bool:
    """k9s-style filter: a case-insensitive substring of any cell."""
    if not needle:
        return True
    wanted = needle.lower()
    return any(wanted in cell.lower() for cell in cells)


class ResourceTable(DataTable[str]):
    """A DataTable that knows its rows by key and replaces only the cells that changed.

    Column widths are set here from the cells rather than left to DataTable's auto-width, which
    sometimes painted a freshly loaded table at its header widths; a wider value reloads the table.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._cells: dict[str, Cells] = {}
        self._headers: Cells = ()

    def load(self, headers: Cells, rows: Iterable[tuple[str, Cells]]) -> None:
        """Replace everything (a new kind, a new filter), keeping the cursor on the same object."""
        listed = list(rows)
        if headers == self._headers and listed == list(self._cells.items()):
            return  # a filter keystroke that hides nothing: rebuilding 1,000 rows would cost ~0.3 s
        self._rebuild(headers, listed)

    def _rebuild(self, headers: Cells, listed: list[tuple[str, Cells]]) -> None:
        selected = self.selected_key
        self.clear(columns=True)
        self._headers = headers
        for i, header in enumerate(headers):
            width = max([cell_len(header), *(cell_len(cells[i]) for _, cells in listed)])
            self.add_column(header, key=header, width=min(width, MAX_WIDTH))
        self._cells = dict(listed)
        for key, cells in listed:
            self.add_row(*cells, key=key)
        if selected in self._cells:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def upsert(self, key: str, cells: Cells) -> None:
        old = self._cells.get(key)
        if old == cells:
            return
        self._cells[key] = cells
        if any(
            cell_len(c) > col.width and col.width < MAX_WIDTH
            for c, col in zip(cells, self.ordered_columns, strict=True)
        ):
            self._rebuild(self._headers, list(self._cells.items()))
        elif old is None:
            self.add_row(*cells, key=key)
        else:
            for header, before, after in zip(self._headers, old, cells, strict=True):
                if before != after:
                    self.update_cell(key, header, after)

    def discard(self, key: str) -> None:
        if self._cells.pop(key, None) is not None:
            self.remove_row(key)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return row_key.value

    def cells_of(self, key: str) -> Cells | None:
        return self._cells.get(key)
