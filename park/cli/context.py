"""What every command gets: the settings built from flags and environment."""

from __future__ import annotations

from dataclasses import dataclass

from park.client import ParkClient, connect
from park.core.settings import Settings


@dataclass
class Obj:
    settings: Settings

    def client(self) -> ParkClient:
        return connect(self.settings)
