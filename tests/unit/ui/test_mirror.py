"""The console's data layer against a scripted server: list then watch, resume, relist on 410, reconnect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from park.client import Listing
from park.core.clock import FakeClock
from park.core.errors import ApiUnavailableError, GoneError
from park.core.loading import parse_resource
from park.core.resources import ResourceKey
from park.ui.mirror import Available, Changed, Connection, Mirror, Reset, Update
from park.ui.views import VIEWS

SERVED = [{"kind": kind} for kind in ("ParkJob", "ParkQueue", "ParkPriorityClass")]


def job(name: str, rv: int, phase: str = "Running") -> dict[str, Any]:
    return {
        "apiVersion": "park.dev/v1alpha1",
        "kind": "ParkJob",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)},
        "spec": {"entrypoint": "python x.py"},
        "status": {"phase": phase},
    }


class Server:
    """Each connection plays the next script: what watch yields, then what ends it."""

    def __init__(self, scripts: list[tuple[list[dict[str, Any]], Exception | None]]) -> None:
        self.scripts = scripts
        self.lists: dict[str, list[dict[str, Any]]] = {"ParkJob": [job("a", 5)], "ParkQueue": []}
        self.list_versions = {"ParkJob": 5, "ParkQueue": 7}
        self.watched_from: list[int | None] = []
        self.listed: list[str] = []
        self.mirror: Mirror | None = None

    def connect(self) -> Server.Source:
        return Server.Source(self)

    class Source:
        def __init__(self, server: Server) -> None:
            self.server = server

        def kinds(self) -> list[dict[str, Any]]:
            return SERVED

        def list_with_version(self, kind: str, *, namespace: str | None = None) -> Listing:
            self.server.listed.append(kind)
            items = [parse_resource(d) for d in self.server.lists[kind]]
            return Listing(items, self.server.list_versions[kind])

        def watch(
            self,
            *,
            resource_version: int | None = None,
            kinds: str | None = None,
            on_open: Callable[[], None] | None = None,
        ) -> Iterator[dict[str, Any]]:
            assert kinds == "ParkJob,ParkQueue" and on_open is not None
            self.server.watched_from.append(resource_version)
            if self.server.scripts:
                on_open()
            if not self.server.scripts:
                assert self.server.mirror is not None
                self.server.mirror.stop()
                return
            events, ending = self.server.scripts.pop(0)
            yield from events
            if ending is not None:
                raise ending

        def close(self) -> None: ...


def run(server: Server) -> list[Update]:
    published: list[Update] = []
    mirror = Mirror(
        connect=server.connect, views=VIEWS, publish=published.append, clock=FakeClock(), retry_seconds=(0, 0)
    )
    server.mirror = mirror
    mirror.run()
    return published


def kinds_of(updates: list[Update], kind: type) -> list[Any]:
    return [u for u in updates if isinstance(u, kind)]


A = ResourceKey("ParkJob", "default", "a")
B = ResourceKey("ParkJob", "default", "b")


def test_lists_what_the_server_has_then_turns_watch_events_into_rows() -> None:
    server = Server(
        [([{"type": "ADDED", "object": job("b", 8)}, {"type": "DELETED", "object": job("a", 9)}], None)]
    )
    updates = run(server)
    assert kinds_of(updates, Available) == [Available(("ParkJob", "ParkQueue"))]  # no view for the rest
    reset = kinds_of(updates, Reset)[0]
    assert reset.kind == "ParkJob" and [r.key for r in reset.rows] == [A]
    assert reset.rows[0].cells[:4] == ("default", "a", "default", "Running")
    changed = kinds_of(updates, Changed)
    assert [(c.key, c.row is None) for c in changed] == [(B, False), (A, True)]
    assert server.watched_from[0] == 5  # the oldest list: nothing between the two lists is lost


def test_changes_a_kinds_own_list_already_showed_are_skipped() -> None:
    server = Server([([{"type": "MODIFIED", "object": job("a", 5, "Queued")}], None)])
    assert kinds_of(run(server), Changed) == []


def test_a_lost_stream_reconnects_and_resumes_from_the_last_resource_version() -> None:
    lost = ApiUnavailableError("lost the Park API")
    server = Server(
        [
            ([{"type": "MODIFIED", "object": job("a", 11, "Succeeded")}], lost),
            ([{"type": "ADDED", "object": job("b", 12)}], None),
        ]
    )
    updates = run(server)
    states = [u.state for u in kinds_of(updates, Connection)]
    assert states == ["connecting", "live", "reconnecting", "live"]
    assert server.watched_from == [5, 11, 12]
    assert server.listed == ["ParkJob", "ParkQueue"]  # listed once: resuming needs no list
    assert [c.key for c in kinds_of(updates, Changed)] == [A, B]


def test_410_gone_lists_everything_again() -> None:
    server = Server([([], GoneError("too old")), ([{"type": "ADDED", "object": job("b", 30)}], None)])
    server.list_versions = {"ParkJob": 20, "ParkQueue": 20}
    updates = run(server)
    assert server.listed == ["ParkJob", "ParkQueue", "ParkJob", "ParkQueue"]
    assert len(kinds_of(updates, Reset)) == 4
    assert "reconnecting" not in [u.state for u in kinds_of(updates, Connection)]
    assert server.watched_from[:2] == [20, 20]  # each watch starts from a fresh list


def test_stop_interrupts_a_blocked_watch_by_closing_its_client() -> None:
    closed: list[bool] = []
    server = Server([])

    class Blocking(Server.Source):
        def watch(self, **_: Any) -> Iterator[dict[str, Any]]:
            assert server.mirror is not None
            threading_stop: Callable[[], None] = server.mirror.stop
            threading_stop()  # stands in for the UI thread calling stop() while this read blocks
            return iter(())

        def close(self) -> None:
            closed.append(True)

    server.connect = lambda: Blocking(server)  # type: ignore[method-assign]
    run(server)
    assert closed
