"""The console's keys, in one place, so the footer, the help screen and the docs agree.

They follow k9s where k9s has an answer (`:` kind, `/` filter, `d` describe, `l` logs, `?` help,
`ctrl+d` delete, `q`/`esc` back); suspend, resume, scale and revoke are Park's own.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

MAIN: list[BindingType] = [
    Binding("colon", "command", "Kind", key_display=":"),
    Binding("slash", "filter", "Filter", key_display="/"),
    Binding("d", "describe", "Desc"),
    Binding("l", "logs", "Logs"),
    Binding("s", "suspend", "Suspend"),
    Binding("r", "resume", "Resume"),
    Binding("S", "scale", "Scale", key_display="S"),
    Binding("x", "revoke", "Revoke"),
    Binding("ctrl+d", "delete", "Delete", key_display="^d"),
    Binding("question_mark", "help", "Help", key_display="?"),
    Binding("escape", "clear_filter", "Clear filter", show=False),
    Binding("q", "quit", "Quit"),
]

BACK: list[BindingType] = [Binding("q,escape", "back", "Back")]

HELP = (
    ("Views", ""),
    (":<kind>", "jobs, clusters, services, queues, nodes or events"),
    ("/<text>", "show rows containing text; esc clears"),
    ("arrows, pgup/dn", "move (the mouse works too: click, scroll)"),
    ("enter, d", "describe: status, conditions, events, spec"),
    ("l", "a job's logs, followed as they grow (f: pause)"),
    ("q, esc", "back from a pane; quit from the list"),
    ("Actions (each asks first)", ""),
    ("s, r", "suspend, resume a job (the footer shows which)"),
    ("S", "scale a service deployment (num_replicas)"),
    ("x", "revoke a federation node (it leaves the mesh)"),
    ("ctrl+d", "delete the selected object"),
    ("Other", ""),
    ("ctrl+p", "command palette: light/dark theme, quit"),
)
