"""The events view: every object's recent events, newest first (events are not objects, so not a ViewSpec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from park.ui.views._format import age

EVENT_HEADERS = ("LAST", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE")
EVENT_ALIASES = ("events", "event", "ev")


def event_rows(events: list[dict[str, Any]], now: datetime) -> list[tuple[str, tuple[str, ...]]]:
    """(row key, cells) newest first; the key is stable across refreshes so the cursor stays put."""
    rows: list[tuple[str, tuple[str, ...]]] = []
    for event in reversed(events):
        target = (
            f"{event['kind']}/{event['namespace'] + '/' if event.get('namespace') else ''}{event['name']}"
        )
        cells = (
            age(datetime.fromisoformat(event["lastTime"]), now),
            event["type"],
            event["reason"],
            target,
            str(event["count"]),
            event["message"].replace("\n", " "),
        )
        rows.append((f"{target}:{event['reason']}:{event['firstTime']}", cells))
    return rows
