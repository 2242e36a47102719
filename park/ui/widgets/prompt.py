"""The bottom prompt: `:` switches kind (with completion), `/` filters as you type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input

Mode = Literal[":", "/"]


class Prompt(Input):
    """Hidden until `:` or `/`; the app reads `mode` to know what a submitted value means."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    class Cancelled(Message):
        """Esc in the prompt: a `/` prompt clears the filter, a `:` prompt changes nothing."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, compact=True)
        self.mode: Mode = ":"

    def open(self, mode: Mode, *, words: Iterable[str] = (), value: str = "") -> None:
        self.mode = mode
        self.suggester = SuggestFromList(list(words), case_sensitive=False) if mode == ":" else None
        self.placeholder = "kind: jobs, clusters, services, queues, events" if mode == ":" else "filter"
        self.value = value
        self.display = True
        # Focus now, not after a refresh (`focus()` defers): keys typed right after `:` are the kind's name.
        self.screen.set_focus(self)

    def close(self) -> None:
        self.display = False

    def on_key(self, event: events.Key) -> None:
        """Keys that reached a closed prompt were typed right after Enter: they belong to the list."""
        if not self.display:
            event.stop()
            event.prevent_default()
            self.app.simulate_key(event.key)

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())
