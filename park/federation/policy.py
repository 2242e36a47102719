"""When a volunteer's node may take work: time windows, a pause switch, and "pause while I use it"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from park.core.errors import InvalidError

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class TimeWindow:
    """`18:00-08:00`: local time, end exclusive; a window whose end is earlier wraps past midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        match = _WINDOW.match(text.strip())
        if match is None:
            raise InvalidError(f"time window {text!r} is not HH:MM-HH:MM (24-hour clock)")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if (h1, m1) == (h2, m2):
            raise InvalidError(f"time window {text!r} is empty; leave windows out to work all day")
        return cls(time(h1, m1), time(h2, m2))

    def contains(self, moment: time) -> bool:
        moment = moment.replace(second=0, microsecond=0, tzinfo=None)
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Decision:
    work: bool
    reason: str


def may_work(
    *,
    now: time,
    windows: list[TimeWindow],
    paused: bool,
    draining: bool,
    load: float,
    busy_load: float | None,
) -> Decision:
    """Whether to take (or keep running) work right now, and why not."""
    if draining:
        return Decision(False, "draining")
    if paused:
        return Decision(False, "paused by the owner")
    if windows and not any(w.contains(now) for w in windows):
        allowed = ", ".join(str(w) for w in windows)
        return Decision(False, f"outside the allowed hours ({allowed})")
    if busy_load is not None and load > busy_load:
        return Decision(False, f"the machine is in use (load {load:.2f} > {busy_load:g})")
    return Decision(True, "ok")
