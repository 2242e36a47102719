"""`l`: a job's output, followed as it grows (the API's `logs?follow=true` stream) in its own thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from park.client import ParkClient
from park.core.errors import ParkError
from park.core.resources import ResourceKey
from park.ui.keys import BACK


class LogScreen(Screen[None]):
    BINDINGS = [*BACK, Binding("f", "toggle_follow", "Follow on/off")]

    def __init__(self, key: ResourceKey, *, connect: Callable[[], ParkClient]) -> None:
        super().__init__()
        self.key = key
        self._connect = connect
        self._client: ParkClient | None = None
        self._stopping = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(f" logs job {self.key.namespace}/{self.key.name}  (following)", classes="crumbs")
        yield Log(id="log", max_lines=20_000, highlight=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self._client = self._connect()
        threading.Thread(
            target=self._follow, args=(self._client,), name="park-console-logs", daemon=True
        ).start()

    def on_unmount(self) -> None:
        self._stopping.set()
        if self._client is not None:
            self._client.close()  # interrupts the blocked read; the thread then ends

    def _follow(self, client: ParkClient) -> None:
        ending = "\n— end of log (the job finished) —\n"
        try:
            for chunk in client.follow_logs(self.key.namespace or "default", self.key.name):
                if self._stopping.is_set():
                    return
                self.app.call_from_thread(self._write, chunk)
        except (ParkError, RuntimeError, OSError) as exc:
            ending = f"\n— log stream ended: {exc} —\n"
        if not self._stopping.is_set():
            self.app.call_from_thread(self._write, ending)

    def _write(self, text: str) -> None:
        if not self._stopping.is_set():
            self.query_one(Log).write(text)

    def action_toggle_follow(self) -> None:
        log = self.query_one(Log)
        log.auto_scroll = not log.auto_scroll
        state = "following" if log.auto_scroll else "paused"
        self.query_one(".crumbs", Static).update(f" logs job {self.key.namespace}/{self.key.name}  ({state})")

    def action_back(self) -> None:
        self.dismiss(None)
