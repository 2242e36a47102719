"""A real HTTP Park API in this process: the FastAPI app over a SQLiteStore, served by uvicorn on 127.0.0.1.

No controllers, no Ray and no running mesh (the federation's gateway is built, not started, so its REST
routes work): the test writes objects (status included) straight into the store, so what the
console shows is deterministic, while everything between the console and the store is the real thing
(HTTP, the SSE watch stream, auth). It can be stopped and started again on the same port, which is how
the tests take the API away from a console and give it back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from park.api import ApiContext, create_app
from park.client import ParkClient
from park.control.logs import JobLogs, LogArchive
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.loading import parse_resource
from park.core.resources import AnyResource
from park.federation.runtime import Federation, FederationSettings
from tests.fakes import NoClusters

TOKEN = "console-test-token"
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ServedApi:
    """The store, the clock both the store and the console read, and the uvicorn thread serving them."""

    def __init__(self, state: Path) -> None:
        self.clock = FakeClock(START)
        self.store = SQLiteStore(state / "park.db", clock=self.clock)
        logs = JobLogs(store=self.store, substrate=NoClusters(), archive=LogArchive(state / "logs"))
        self.federation = Federation(
            self.store, FederationSettings(directory=state / "federation", port=0), clock=self.clock
        )
        self.app = create_app(
            ApiContext(
                store=self.store, logs=logs, token=TOKEN, ready=lambda: True, federation=self.federation
            )
        )
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> ParkClient:
        return ParkClient(self.url, TOKEN)

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = self._server = _Server(config)
        self._thread = threading.Thread(target=server.run, name="served-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError("uvicorn did not start")
            time.sleep(0.02)
        self.port = server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def put(self, data: dict[str, Any]) -> AnyResource:
        """Create an object with its status, as the controllers would have written it."""
        obj = parse_resource(data)
        created = self.store.create(obj)
        if "status" in data:
            created = self.store.update_status(created.model_copy(update={"status": obj.status}))
        return created


@contextlib.contextmanager
def served(state: Path) -> Iterator[ServedApi]:
    api = ServedApi(state)
    api.start()
    try:
        yield api
    finally:
        api.stop()
        api.federation.queue.close()
        api.store.close()
