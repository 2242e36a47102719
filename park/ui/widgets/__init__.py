"""The console's widgets: the health header, the resource table and the `:` / `/` prompt."""

from park.ui.widgets.header import HealthHeader
from park.ui.widgets.prompt import Prompt
from park.ui.widgets.table import ResourceTable, matches

__all__ = ["HealthHeader", "Prompt", "ResourceTable", "matches"]
