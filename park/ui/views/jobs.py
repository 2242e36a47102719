"""ParkJob rows: where it waits or runs, its attempt, and the scheduler's or Ray's message."""

from __future__ import annotations

from datetime import datetime

from park.core.resources import AnyResource, ParkJob
from park.ui.views._format import age
from park.ui.views._spec import Cells, ViewSpec


def _cells(obj: AnyResource, now: datetime) -> Cells:
    assert isinstance(obj, ParkJob)
    status = obj.status
    admission = status.admission
    waiting = admission is not None and not admission.admitted and admission.position is not None
    phase: str = status.phase or "Pending"
    if obj.spec.suspend and phase not in ("Suspended", "Preempted", "Preempting"):
        phase += " (suspending)"
    return (
        obj.spec.queue,
        phase,
        str(obj.spec.priority),
        str(status.attempt),
        f"#{admission.position}" if waiting and admission is not None else "-",
        age(obj.metadata.creation_timestamp, now),
        (status.message or (admission.message if admission else "") or "").replace("\n", " "),
    )


JOBS = ViewSpec(
    kind="ParkJob",
    name="jobs",
    aliases=("job", "pj", "parkjob", "parkjobs"),
    namespaced=True,
    columns=("QUEUE", "STATUS", "PRIO", "ATTEMPT", "POS", "AGE", "MESSAGE"),
    cells=_cells,
    actions=frozenset({"describe", "logs", "suspend", "resume", "delete"}),
)
