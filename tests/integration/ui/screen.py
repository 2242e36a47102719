"""What a console test looks at: the screen as plain text, and SVG snapshots compared with committed files.

Snapshots live in `snapshots/`; run with `PARK_UPDATE_SNAPSHOTS=1` to rewrite them (and the copies under
`ui/` that the README shows) after a deliberate change, then review the diff like any other.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from rich.console import Console
from textual.app import App

SNAPSHOTS = Path(__file__).parent / "snapshots"
DOCS = Path(__file__).resolve().parents[3] / "ui"


def screen_text(app: App[object]) -> str:
    """The visible screen (modals included) as text, the way a person would read it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def assert_snapshot(app: App[object], name: str, *, docs: bool = False) -> None:
    """Compare an SVG screenshot with `snapshots/<name>.svg`; `docs` also keeps `ui/<name>.svg` in step."""
    svg = app.export_screenshot(title="park console")
    expected = SNAPSHOTS / f"{name}.svg"
    targets = [expected, *([DOCS / f"console-{name}.svg"] if docs else [])]
    if os.environ.get("PARK_UPDATE_SNAPSHOTS") == "1":
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(svg, encoding="utf-8")
        return
    for target in targets:
        assert target.exists(), f"no snapshot {target}: run with PARK_UPDATE_SNAPSHOTS=1 to create it"
        if target.read_text(encoding="utf-8") != svg:
            actual = SNAPSHOTS / f"{name}.actual.svg"
            actual.write_text(svg, encoding="utf-8")
            raise AssertionError(
                f"{name}: the screen differs from {target} (now in {actual}); "
                f"this is what it shows:\n{screen_text(app)}"
            )
