"""The scale dialog: pick one of a service's deployments, type a replica count, confirm."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from park.ui.actions import Deployment


@dataclass(frozen=True)
class ScaleRequest:
    application: str
    deployment: str
    replicas: int


class ScaleScreen(ModalScreen[ScaleRequest | None]):
    AUTO_FOCUS = "#replicas"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, service: str, choices: list[Deployment]) -> None:
        super().__init__()
        self._service = service
        self._choices = choices

    def compose(self) -> ComposeResult:
        first = self._choices[0]
        with Grid(classes="dialog scale"):
            yield Label(
                f"Scale a deployment of service {self._service}.\n"
                "A pinned num_replicas replaces the deployment's autoscaling.",
                classes="question",
            )
            yield Select(
                [(choice.label, i) for i, choice in enumerate(self._choices)],
                value=0,
                allow_blank=False,
                id="deployment",
            )
            yield Input(
                str(first.replicas if first.replicas is not None else 1), type="integer", id="replicas"
            )
            with Horizontal(classes="buttons"):
                yield Button("Scale", id="yes", variant="warning")
                yield Button("Cancel", id="no")

    def _request(self) -> ScaleRequest | None:
        value = self.query_one("#replicas", Input).value.strip()
        index = self.query_one("#deployment", Select).value
        if not value.isdigit() or not isinstance(index, int):
            self.notify("replicas must be a whole number, 0 or more", severity="error")
            return None
        choice = self._choices[index]
        return ScaleRequest(choice.application, choice.name, int(value))

    def on_input_submitted(self) -> None:
        if (request := self._request()) is not None:
            self.dismiss(request)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "no":
            self.dismiss(None)
        elif (request := self._request()) is not None:
            self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)
