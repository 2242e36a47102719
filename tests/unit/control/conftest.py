"""Fixtures the control plane's unit tests share: a fake clock and an SQLite store that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "park.db", clock=clock)
    yield store
    store.close()
