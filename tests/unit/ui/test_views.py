"""How objects become console rows: bars, ages, the kinds a `:` command names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from park.core.loading import parse_resource
from park.ui.views import VIEWS, event_rows, resolve
from park.ui.views._format import age, bar, count_bar

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_a_bar_fills_with_use_and_shows_borrowing_beyond_the_quota() -> None:
    assert bar(0, 8, width=8) == "········"
    assert bar(4, 8, width=8) == "████····"
    assert bar(8, 8, width=8) == "████████"
    assert bar(1, 8, width=8) == "█·······"
    assert bar(1.5, 8, width=8) == "█▌······"
    borrowing = bar(6, 4, borrowed=2, width=6)  # a quota of 4, using 6: two borrowed
    assert borrowing == "████▒▒"
    assert len(bar(100, 1, borrowed=99, width=10)) == 10


def test_counts_and_ages_read_at_a_glance() -> None:
    assert count_bar(0) == "0"
    assert count_bar(3) == "■■■ 3"
    assert count_bar(12) == "■■■■■+ 12"
    assert age(NOW - timedelta(seconds=30), NOW) == "30s"
    assert age(NOW - timedelta(minutes=5), NOW) == "5m"
    assert age(NOW - timedelta(hours=3), NOW) == "3h"
    assert age(None, NOW) == "-"


def _queue(**status: object) -> object:
    return parse_resource(
        {
            "apiVersion": "park.dev/v1alpha1",
            "kind": "ParkQueue",
            "metadata": {"name": "team-a", "creationTimestamp": (NOW - timedelta(hours=3)).isoformat()},
            "spec": {"nominalQuota": {"cpu": "4", "gpu": 2}, "cohort": "research"},
            "status": status,
        }
    )


def test_a_queue_row_shows_nominal_used_borrowed_and_pending() -> None:
    queue = _queue(pendingJobs=3, admittedJobs=1, usage={"used": {"cpu": 6.0}, "borrowed": {"cpu": 2.0}})
    row = VIEWS["ParkQueue"].row(queue, NOW)  # type: ignore[arg-type]
    assert VIEWS["ParkQueue"].headers == (
        "NAME", "COHORT", "CPU USED/NOMINAL", "GPU USED/NOMINAL", "ADMITTED", "PENDING", "AGE",
    )  # fmt: skip
    assert row[0] == "team-a" and row[1] == "research"
    assert row[2].endswith("6/4+2") and "▒" in row[2]
    assert row[3].endswith("0/2")
    assert row[5] == "■■■ 3"
    assert row[6] == "3h"


def test_a_job_that_is_being_suspended_says_so() -> None:
    job = parse_resource(
        {
            "apiVersion": "park.dev/v1alpha1",
            "kind": "ParkJob",
            "metadata": {"name": "train", "namespace": "ml"},
            "spec": {"entrypoint": "python t.py", "suspend": True},
            "status": {"phase": "Running", "attempt": 1},
        }
    )
    row = dict(zip(VIEWS["ParkJob"].headers, VIEWS["ParkJob"].row(job, NOW), strict=True))
    assert row["NAMESPACE"] == "ml" and row["STATUS"] == "Running (suspending)"


def test_kind_words_resolve_only_to_kinds_the_server_has() -> None:
    everything = frozenset(VIEWS)
    assert resolve("pj", everything) == "ParkJob"
    assert resolve("Queues", everything) == "ParkQueue"
    assert resolve("ev", everything) == "events"
    assert resolve("svc", frozenset({"ParkJob"})) is None
    assert resolve("nodes", everything) is None  # no federation kind exists: no view is invented


def test_event_rows_come_newest_first_with_stable_keys() -> None:
    events = [
        {"kind": "ParkJob", "namespace": "default", "name": "a", "type": "Normal", "reason": "Submitted",
         "message": "x", "count": 1, "firstTime": NOW.isoformat(), "lastTime": NOW.isoformat()},
        {"kind": "ParkQueue", "namespace": None, "name": "q", "type": "Warning", "reason": "Full",
         "message": "y\nz", "count": 2, "firstTime": NOW.isoformat(), "lastTime": NOW.isoformat()},
    ]  # fmt: skip
    rows = event_rows(events, NOW + timedelta(seconds=5))
    assert [cells[3] for _, cells in rows] == ["ParkQueue/q", "ParkJob/default/a"]
    assert rows[0][1] == ("5s", "Warning", "Full", "ParkQueue/q", "2", "y z")
    assert rows == event_rows(events, NOW + timedelta(seconds=5))
