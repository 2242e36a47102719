"""The console's screens: describe and logs panes, confirmation and scale dialogs, help."""

from park.ui.screens.confirm import ConfirmScreen
from park.ui.screens.describe import DescribeScreen
from park.ui.screens.help import HelpScreen
from park.ui.screens.logs import LogScreen
from park.ui.screens.scale import ScaleRequest, ScaleScreen

__all__ = ["ConfirmScreen", "DescribeScreen", "HelpScreen", "LogScreen", "ScaleRequest", "ScaleScreen"]
