"""ParkQueue rows: quota use as bars (used within nominal, borrowed beyond it), admitted and pending jobs."""

from __future__ import annotations

from datetime import datetime

from park.core.resources import AnyResource, ParkQueue
from park.ui.views._format import age, amount, bar, count_bar
from park.ui.views._spec import Cells, ViewSpec


def _usage(nominal: float, used: float, borrowed: float) -> str:
    if not nominal and not used:
        return "-"
    extra = f"+{amount(borrowed)}" if borrowed else ""
    return f"{bar(used, nominal, borrowed=borrowed, width=8)} {amount(used)}/{amount(nominal)}{extra}"


def _cells(obj: AnyResource, now: datetime) -> Cells:
    assert isinstance(obj, ParkQueue)
    quota, usage = obj.spec.nominal_quota, obj.status.usage
    return (
        obj.spec.cohort or "-",
        _usage(quota.cpu_cores(), usage.used.get("cpu", 0.0), usage.borrowed.get("cpu", 0.0)),
        _usage(float(quota.gpus()), usage.used.get("gpu", 0.0), usage.borrowed.get("gpu", 0.0)),
        str(obj.status.admitted_jobs),
        count_bar(obj.status.pending_jobs),
        age(obj.metadata.creation_timestamp, now),
    )


QUEUES = ViewSpec(
    kind="ParkQueue",
    name="queues",
    aliases=("queue", "pq", "parkqueue", "parkqueues"),
    namespaced=False,
    columns=("COHORT", "CPU USED/NOMINAL", "GPU USED/NOMINAL", "ADMITTED", "PENDING", "AGE"),
    cells=_cells,
    actions=frozenset({"describe", "delete"}),
)
