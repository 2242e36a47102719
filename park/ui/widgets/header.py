"""The header: platform health (/healthz, /readyz, version) and whether the live stream is connected."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static


class HealthHeader(Static):
    """One line; its CSS class (live / connecting / reconnecting) picks a theme colour, never a fixed one."""

    server: reactive[str] = reactive("")
    version: reactive[str] = reactive("?")
    healthz: reactive[str] = reactive("?")
    readyz: reactive[str] = reactive("?")
    state: reactive[str] = reactive("connecting")
    detail: reactive[str] = reactive("")

    def render(self) -> str:
        marks = {"live": "● live", "connecting": "◌ connecting…", "reconnecting": "◌ reconnecting…"}
        stream = marks.get(self.state, self.state)
        health = f"healthz: {self.healthz} │ readyz: {self.readyz}"
        return f" Park {self.version} │ {self.server} │ {health} │ {stream}"

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(old)
        self.add_class(new)
        self.tooltip = self.detail or None
