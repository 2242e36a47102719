"""Cell formatting shared by the views: ages and text bars that read the same on light and dark terminals.

Bars are drawn with block glyphs rather than colours, so they stay legible under any theme and in a
monochrome capture of the screen.
"""

from __future__ import annotations

from datetime import datetime

_EIGHTHS = " ▏▎▍▌▋▊▉"


def age(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    seconds = int((now - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def bar(used: float, nominal: float, *, borrowed: float = 0.0, width: int = 10) -> str:
    """`█` for what is used within the quota, `▒` for what is borrowed beyond it, `·` for what is free.

    The scale is the larger of the quota and the use, so a queue that borrows shows a bar whose
    `▒` tail is the borrowed share rather than an overflowing one.
    """
    scale = max(nominal, used, 1e-9)
    own = min(used - borrowed, nominal) if borrowed else min(used, nominal)
    own_cells = max(own, 0.0) / scale * width
    borrowed_cells = round(max(borrowed, 0.0) / scale * width)
    full, part = int(own_cells), int((own_cells - int(own_cells)) * 8)
    text = "█" * full + (_EIGHTHS[part] if part and full < width else "")
    text += "▒" * min(borrowed_cells, width - len(text))
    return text + "·" * (width - len(text))


def amount(value: float) -> str:
    return format(round(value, 2), "g")


def count_bar(count: int, *, width: int = 5) -> str:
    """A short tally (`■■■ 3`) so long queues stand out while scanning a column."""
    marks = "■" * min(count, width) + ("+" if count > width else "")
    return f"{marks} {count}" if count else "0"
