"""A yes/no modal: every action that changes the platform asks first (y / n, or the mouse)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmScreen(ModalScreen[bool]):
    AUTO_FOCUS = "#no"  # Enter on a dialog opened by mistake changes nothing
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape,q", "answer(False)", "No"),
    ]

    def __init__(self, question: str, *, verb: str) -> None:
        super().__init__()
        self._question = question
        self._verb = verb

    def compose(self) -> ComposeResult:
        with Grid(classes="dialog"):
            yield Label(self._question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self._verb} (y)", id="yes", variant="warning")
                yield Button("Cancel (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
