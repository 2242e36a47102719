"""What every command gets: the settings built from flags and environment."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from park.client import ParkClient, connect
from park.core.settings import Settings

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def print_warning(text: str) -> None:
    """What the server warns about (an object it left out of a list), on stderr, as kubectl prints it."""
    _stderr.print(f"Warning: {text}", markup=False)


@dataclass
class Obj:
    settings: Settings

    def client(self) -> ParkClient:
        return connect(self.settings, on_warning=print_warning)
