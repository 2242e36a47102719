"""The console app: one table of the chosen kind, live from the watch stream, with panes and actions.

Handlers stay thin: the mirror thread delivers rows ready to show, actions run in worker threads
through `park.ui.actions`, and the only state kept here is the rows of each kind and the filter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from park.client import ParkClient
from park.core.clock import Clock, SystemClock
from park.core.errors import ParkError
from park.core.resources import AnyResource, FederatedNode, ParkService, ResourceKey
from park.ui import actions
from park.ui.keys import MAIN
from park.ui.mirror import Available, Changed, Connection, Mirror, Reset, Row, Update
from park.ui.screens import ConfirmScreen, DescribeScreen, HelpScreen, LogScreen, ScaleRequest, ScaleScreen
from park.ui.views import EVENT_HEADERS, VIEWS, event_rows, resolve
from park.ui.widgets import HealthHeader, Prompt, ResourceTable, matches

EVENTS = "events"
TICK_SECONDS = 1.0  # how often ages are redrawn between changes
KIND_ACTIONS = frozenset({"describe", "logs", "suspend", "resume", "scale", "revoke", "delete"})


class MirrorUpdate(Message):
    """Posted from the mirror's thread (post_message is thread-safe); handled on the UI thread."""

    def __init__(self, update: Update) -> None:
        super().__init__()
        self.update = update


def row_id(key: ResourceKey) -> str:
    return f"{key.namespace}/{key.name}" if key.namespace else key.name


class ConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "park console"
    BINDINGS: ClassVar = MAIN

    def __init__(
        self,
        *,
        connect: Callable[[], ParkClient],
        namespace: str | None = None,
        kind: str = "jobs",
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self._connect = connect
        self._namespace = namespace
        self._clock = clock or SystemClock()
        self._wanted = kind
        self.kind: str | None = None  # a kind in VIEWS, or "events"; None until discovery answered
        self.available: tuple[str, ...] = ()
        self.rows: dict[str, dict[ResourceKey, Row]] = {}
        self.filter = ""
        self._events: list[dict[str, Any]] = []
        self._events_stale = False
        self._mirror = Mirror(
            connect=connect,
            views=VIEWS,
            publish=self._publish,
            clock=self._clock,
            namespace=namespace,
        )

    # ------------------------------------------------------------------ layout and lifecycle

    def compose(self) -> ComposeResult:
        # Kept as attributes: `query_one` searches the active screen, and updates arrive under panes too.
        self._header = HealthHeader(id="health")
        self._crumbs = Static(id="crumbs", classes="crumbs")
        self._table = ResourceTable(id="table")
        self._prompt = Prompt(id="prompt")
        yield from (self._header, self._crumbs, self._table, self._prompt, Footer(show_command_palette=False))

    def on_mount(self) -> None:
        self._header.server = self._connect_server()
        self._prompt.close()
        self._draw_crumbs()
        self._mirror.start()
        self._table.focus()
        self.set_interval(TICK_SECONDS, self._tick)

    def on_unmount(self) -> None:
        self._mirror.stop()

    def _connect_server(self) -> str:
        with self._connect() as client:
            return client.server

    # ------------------------------------------------------------------ the live data

    def _publish(self, update: Update) -> None:
        self.post_message(MirrorUpdate(update))

    @on(MirrorUpdate)
    def _on_mirror_update(self, message: MirrorUpdate) -> None:
        update = message.update
        if isinstance(update, Connection):
            self._connection(update)
        elif isinstance(update, Available):
            self.available = update.kinds
            if self.kind is None:
                self.switch(resolve(self._wanted, frozenset(self.available)) or self.available[0])
        elif isinstance(update, Reset):
            self.rows[update.kind] = {row.key: row for row in update.rows}
            if update.kind == self.kind:
                self._reload()
        elif isinstance(update, Changed):
            self._changed(update)

    def _changed(self, update: Changed) -> None:
        rows = self.rows.setdefault(update.kind, {})
        if update.row is None:
            rows.pop(update.key, None)
        else:
            rows[update.key] = update.row
        if isinstance(self.screen, DescribeScreen) and self.screen.key == update.key:
            self.screen.changed(update.row.obj if update.row else None)
        if self.kind == EVENTS:
            self._refresh_events()  # objects change as their events are written
        if update.kind != self.kind:
            return
        self._show(update.key, update.row)
        self._draw_crumbs()
        self.refresh_bindings()

    def _show(self, key: ResourceKey, row: Row | None) -> None:
        if row is None or not matches(row.cells, self.filter):
            self._table.discard(row_id(key))
        else:
            self._table.upsert(row_id(key), row.cells)

    def _tick(self) -> None:
        """Ages (AGE, SEEN, LAST) grow with time alone: redraw the shown kind's rows from the clock."""
        now = self._clock.now()
        if self.kind == EVENTS:
            self._reload()
        elif self.kind is not None:
            view, rows = VIEWS[self.kind], self.rows.get(self.kind, {})
            for key, row in list(rows.items()):
                cells = view.row(row.obj, now)
                if cells != row.cells:
                    rows[key] = Row(key, cells, row.obj)
                    self._show(key, rows[key])

    def _connection(self, update: Connection) -> None:
        header = self._header
        header.detail = update.detail
        header.state = update.state
        if update.state == "live":
            self.run_worker(
                self._fetch_health, thread=True, exclusive=True, group="health", exit_on_error=False
            )
        elif update.state == "reconnecting":
            header.healthz = header.readyz = "unreachable"

    def _fetch_health(self) -> None:
        try:
            with self._connect() as client:
                health, version = client.health(), client.version()
        except ParkError:
            return
        self.call_from_thread(self._got_health, health, version)

    def _got_health(self, health: dict[str, str], version: dict[str, Any]) -> None:
        header = self._header
        header.healthz, header.readyz = health["healthz"], health["readyz"]
        header.version = str(version.get("version", "?"))

    # ------------------------------------------------------------------ what the table shows

    def switch(self, kind: str) -> None:
        self.kind = kind
        self.filter = ""
        if kind == EVENTS:
            self._refresh_events()
        self._reload()
        self.refresh_bindings()  # the footer shows this kind's actions

    def _reload(self) -> None:
        table = self._table
        if self.kind == EVENTS:
            now = self._clock.now()
            rows = [
                (key, cells) for key, cells in event_rows(self._events, now) if matches(cells, self.filter)
            ]
            table.load(EVENT_HEADERS, rows)
        elif self.kind is not None:
            ordered = sorted(self.rows.get(self.kind, {}).values(), key=lambda row: row_id(row.key))
            table.load(
                VIEWS[self.kind].headers,
                ((row_id(row.key), row.cells) for row in ordered if matches(row.cells, self.filter)),
            )
        self._draw_crumbs()

    def _refresh_events(self) -> None:
        """Events are not in the watch stream: fetch them when shown and after changes, one at a time."""
        if self._events_stale:
            return
        self._events_stale = True
        self.set_timer(0.3, lambda: self.run_worker(self._fetch_events, thread=True, group="events"))

    def _fetch_events(self) -> None:
        try:
            with self._connect() as client:
                events = client.all_events(namespace=self._namespace)
        except ParkError:
            events = self._events
        self.call_from_thread(self._got_events, events)

    def _got_events(self, events: list[dict[str, Any]]) -> None:
        self._events_stale = False
        self._events = events
        if self.kind == EVENTS:
            self._reload()

    def _draw_crumbs(self) -> None:
        if self.kind is None:
            text = " loading…"
        else:
            shown = self._table.row_count
            total = len(self._events) if self.kind == EVENTS else len(self.rows.get(self.kind, {}))
            name = EVENTS if self.kind == EVENTS else VIEWS[self.kind].name
            scope = f"namespace {self._namespace}" if self._namespace else "all namespaces"
            counts = f"{shown}/{total}" if self.filter else str(total)
            text = f" {name} ({counts}) │ {scope}" + (f" │ /{self.filter}" if self.filter else "")
        self._crumbs.update(text)

    # ------------------------------------------------------------------ the selected object

    def selected(self) -> AnyResource | None:
        key = self._table.selected_key
        if key is None or self.kind is None or self.kind == EVENTS:
            return None
        namespace, _, name = key.rpartition("/")
        row = self.rows.get(self.kind, {}).get(ResourceKey(self.kind, namespace or None, name))
        return row.obj if row is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what does not apply: list keys under a pane or dialog, actions the kind does not have.

        Hidden rather than dimmed, so the footer fits 80 columns and shows only what a key would do.
        """
        list_only = {"command", "filter", "clear_filter", *KIND_ACTIONS}
        if action in list_only and len(self.screen_stack) > 1:
            return False
        if action not in KIND_ACTIONS:
            return True
        if self.kind is None or self.kind == EVENTS or action not in VIEWS[self.kind].actions:
            return False
        if action in ("suspend", "resume"):
            job = self.selected()
            suspended = bool(job is not None and getattr(job.spec, "suspend", False))
            return suspended == (action == "resume")
        if action == "revoke":
            node = self.selected()
            return isinstance(node, FederatedNode) and not node.spec.revoked
        return True

    # ------------------------------------------------------------------ keys

    def action_command(self) -> None:
        words = [VIEWS[k].name for k in self.available] + [EVENTS, "quit"]
        self._prompt.open(":", words=words)

    def action_filter(self) -> None:
        self._prompt.open("/", value=self.filter)

    @on(Input.Changed, "#prompt")
    def _prompt_changed(self, event: Input.Changed) -> None:
        if self._prompt.mode == "/":
            self.filter = event.value
            self._reload()

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        prompt = self._prompt
        prompt.close()
        self.screen.set_focus(self._table)
        if prompt.mode == "/":
            return
        word = event.value.strip()
        if word in ("q", "quit", "q!"):
            self.exit()
        elif (kind := resolve(word, frozenset(self.available))) is not None:
            self.switch(kind)
        elif word:
            views = ", ".join(VIEWS[kind].name for kind in self.available)
            self.notify(f"no view {word!r} here; try {views} or events", severity="warning")

    @on(Prompt.Cancelled)
    def _prompt_cancelled(self) -> None:
        if self._prompt.mode == "/":
            self.action_clear_filter()
        self._prompt.close()
        self.screen.set_focus(self._table)

    @on(ResourceTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self.refresh_bindings()  # suspend or resume, by the selected job

    @on(ResourceTable.RowSelected)
    def _row_selected(self) -> None:
        """Enter (or a click on the selected row) describes, as in k9s."""
        self.action_describe()

    def action_clear_filter(self) -> None:
        if self.filter:
            self.filter = ""
            self._reload()

    def action_help(self) -> None:
        self._open(HelpScreen())

    def action_describe(self) -> None:
        if (obj := self.selected()) is not None:
            self._open(DescribeScreen(obj, connect=self._connect, clock=self._clock))

    def action_logs(self) -> None:
        if (obj := self.selected()) is not None and obj.kind == "ParkJob":
            self._open(LogScreen(obj.key, connect=self._connect))

    def action_suspend(self) -> None:
        self._confirm_suspend(suspend=True)

    def action_resume(self) -> None:
        self._confirm_suspend(suspend=False)

    def _confirm_suspend(self, *, suspend: bool) -> None:
        obj = self.selected()
        if obj is None or obj.kind != "ParkJob":
            return
        verb = "Suspend" if suspend else "Resume"
        note = " A running job is preempted: it checkpoints, then stops." if suspend else ""
        question = f"{verb} job {row_id(obj.key)}?{note}"

        def answered(yes: bool | None) -> None:
            if yes:
                self._act(
                    f"{verb.lower()}ed {row_id(obj.key)}", lambda c: actions.suspend(c, obj, suspend=suspend)
                )

        self._open(ConfirmScreen(question, verb=verb), answered)

    def action_revoke(self) -> None:
        node = self.selected()
        if not isinstance(node, FederatedNode) or node.spec.revoked:
            return
        name = node.metadata.name
        question = (
            f"Revoke node {name}? The gateway drops it, tells the mesh, and its token no longer admits it;"
            " its leased work goes to other nodes."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._act(f"revoked node {name}", lambda c: actions.revoke(c, node))

        self._open(ConfirmScreen(question, verb="Revoke"), answered)

    def action_delete(self) -> None:
        obj = self.selected()
        if obj is None:
            return
        what = f"{obj.kind} {row_id(obj.key)}"
        note = " A running job is stopped first." if obj.kind == "ParkJob" else ""

        def answered(yes: bool | None) -> None:
            if yes:
                self._act(f"deleted {what}", lambda c: actions.delete(c, obj))

        self._open(ConfirmScreen(f"Delete {what}?{note}", verb="Delete"), answered)

    def action_scale(self) -> None:
        obj = self.selected()
        if not isinstance(obj, ParkService):
            return
        choices = actions.deployments(obj)
        if not choices:
            self.notify(f"{row_id(obj.key)} names no deployments to scale", severity="warning")
            return
        namespace, name = obj.metadata.namespace or "default", obj.metadata.name

        def answered(request: ScaleRequest | None) -> None:
            if request is not None:
                self._act(
                    f"scaled {request.application}/{request.deployment} of {name} to {request.replicas}",
                    lambda c: actions.scale(
                        c,
                        namespace,
                        name,
                        application=request.application,
                        deployment=request.deployment,
                        replicas=request.replicas,
                    ),
                )

        self._open(ScaleScreen(row_id(obj.key), choices), answered)

    def _open(self, screen: Screen[Any], then: Callable[[Any], None] | None = None) -> None:
        """Push a pane or dialog; when it closes, the footer shows the list's keys again."""

        def closed(result: Any) -> None:
            if then is not None:
                then(result)
            self.refresh_bindings()

        self.push_screen(screen, closed)
        self.refresh_bindings()

    def _act(self, done: str, call: Callable[[ParkClient], None]) -> None:
        """Run an action off the UI thread; the table changes when the watch stream says so, not before."""

        def work() -> None:
            try:
                with self._connect() as client:
                    call(client)
            except ParkError as exc:
                self.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
                return
            self.call_from_thread(self.notify, done)

        self.run_worker(work, thread=True, group="actions", exit_on_error=False)


def run_console(
    *,
    connect: Callable[[], ParkClient],
    namespace: str | None = None,
    kind: str = "jobs",
    light: bool = False,
) -> None:
    app = ConsoleApp(connect=connect, namespace=namespace, kind=kind)
    if light:
        app.theme = "textual-light"
    app.run()
