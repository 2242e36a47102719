"""`d`: one object's spec, status, conditions and events, redrawn whenever the watch stream changes it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from park.client import ParkClient
from park.core.clock import Clock
from park.core.errors import ParkError
from park.core.resources import AnyResource, ResourceKey
from park.ui.describe import describe
from park.ui.keys import BACK


class DescribeScreen(Screen[None]):
    BINDINGS = BACK

    def __init__(self, obj: AnyResource, *, connect: Callable[[], ParkClient], clock: Clock) -> None:
        super().__init__()
        self.key: ResourceKey = obj.key
        self._obj = obj
        self._events: list[dict[str, Any]] = []
        self._connect = connect
        self._clock = clock

    def compose(self) -> ComposeResult:
        name = f"{self.key.namespace + '/' if self.key.namespace else ''}{self.key.name}"
        yield Static(f" describe {self.key.kind} {name}", classes="crumbs")
        with VerticalScroll(id="describe-scroll"):
            yield Static(id="describe")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self._draw()
        self.changed(self._obj)

    def changed(self, obj: AnyResource | None) -> None:
        """The object changed (None: deleted); events are fetched again, off the UI thread."""
        if obj is None:
            self.query_one(".crumbs", Static).update(f" {self.key.kind} {self.key.name}: deleted")
            return
        self._obj = obj
        self._draw()
        self.run_worker(self._fetch_events, thread=True, exclusive=True, group="events", exit_on_error=False)

    def _fetch_events(self) -> None:
        try:
            with self._connect() as client:
                events = client.events(self.key.kind, self.key.namespace, self.key.name)
        except ParkError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.app.call_from_thread(self._got_events, events)

    def _got_events(self, events: list[dict[str, Any]]) -> None:
        self._events = events
        self._draw()

    def _draw(self) -> None:
        self.query_one("#describe", Static).update(describe(self._obj, self._events, self._clock.now()))

    def action_back(self) -> None:
        self.dismiss(None)
