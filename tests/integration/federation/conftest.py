"""py-libp2p 0.8.1 leaves a cancelled host's TCP sockets to the garbage collector: collect them while
this module's warning filters still apply, so the ResourceWarnings are not blamed on the next test."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _collect_libp2p_sockets() -> Iterator[None]:
    yield
    gc.collect()
