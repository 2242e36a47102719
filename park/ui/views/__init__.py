"""How each kind looks in the console. A kind gets a view only when the server's discovery lists it."""

from park.ui.views._spec import Cells, ViewSpec
from park.ui.views.clusters import CLUSTERS
from park.ui.views.events import EVENT_ALIASES, EVENT_HEADERS, event_rows
from park.ui.views.jobs import JOBS
from park.ui.views.nodes import NODES
from park.ui.views.queues import QUEUES
from park.ui.views.services import SERVICES

VIEWS: dict[str, ViewSpec] = {view.kind: view for view in (JOBS, CLUSTERS, SERVICES, QUEUES, NODES)}


def resolve(word: str, available: frozenset[str]) -> str | None:
    """The kind (or "events") a `:` command names, among the kinds the server has; None if unknown."""
    wanted = word.strip().lower()
    if wanted in EVENT_ALIASES:
        return "events"
    for view in VIEWS.values():
        if view.kind in available and wanted in (view.name, view.kind.lower(), *view.aliases):
            return view.kind
    return None


__all__ = ["EVENT_HEADERS", "VIEWS", "Cells", "ViewSpec", "event_rows", "resolve"]
