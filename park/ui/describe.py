"""The detail pane's text: what `park describe` shows, laid out for a scrolling pane.

Section titles are bold and underlined, not coloured, so they read on light and dark terminals alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text

from park.core.loading import dump_yaml
from park.core.resources import AnyResource
from park.ui.views._format import age


def _section(text: Text, title: str) -> None:
    text.append(f"\n{title}\n", style="bold underline")


def _yaml(value: dict[str, Any]) -> str:
    return dump_yaml([value]).rstrip() if value else "{}"


def describe(obj: AnyResource, events: list[dict[str, Any]], now: datetime) -> Text:
    data = obj.to_dict()
    meta = obj.metadata
    labels = ", ".join(f"{k}={v}" for k, v in meta.labels.items()) or "<none>"
    text = Text()
    text.append(f"{obj.kind} ", style="bold")
    text.append(f"{meta.namespace + '/' if meta.namespace else ''}{meta.name}\n")
    text.append(
        f"labels: {labels}\ncreated: {age(meta.creation_timestamp, now)} ago   "
        f"generation: {meta.generation}   resourceVersion: {meta.resource_version}\n"
    )
    _section(text, "Status")
    text.append(_yaml({k: v for k, v in data.get("status", {}).items() if k != "conditions"}) + "\n")
    _section(text, "Conditions")
    for condition in obj.status.conditions:
        text.append(f"  {condition.type}={condition.status}  {condition.reason}  {condition.message}\n")
    if not obj.status.conditions:
        text.append("  <none>\n")
    _section(text, "Events")
    for event in events:
        count = f" (x{event['count']})" if event["count"] > 1 else ""
        when = age(datetime.fromisoformat(event["lastTime"]), now)
        text.append(f"  {event['type']:<8} {event['reason']:<18} {when:>4} ago  {event['message']}{count}\n")
    if not events:
        text.append("  <none>\n")
    _section(text, "Spec")
    text.append(_yaml(data.get("spec", {})) + "\n")
    return text
