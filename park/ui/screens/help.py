"""`?`: the keys, from `park.ui.keys` (the same table the docs show)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from park.ui.keys import HELP


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("q,escape,question_mark", "dismiss_help", "Close")]

    def compose(self) -> ComposeResult:
        lines = []
        for keys, what in HELP:
            lines.append(f"[b]{keys}[/b]" if not what else f"  {keys:<16} {what}")
        with VerticalScroll(classes="dialog help"):
            yield Static("\n".join(lines), markup=True)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
