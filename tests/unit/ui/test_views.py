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
    assert resolve("ps", frozenset({"ParkJob"})) is None
    assert resolve("svc", everything) is None  # Kubernetes' Service, not a Park kind
    assert resolve("nodes", everything) == "FederatedNode"
    assert resolve("nodes", frozenset({"ParkJob"})) is None  # a server without the kind: no view invented


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


def _node(*, revoked: bool = False, **status: object) -> object:
    return parse_resource(
        {
            "apiVersion": "park.dev/v1alpha1",
            "kind": "FederatedNode",
            "metadata": {"name": "gpu-box", "creationTimestamp": (NOW - timedelta(hours=3)).isoformat()},
            "spec": {
                "peerId": "12D3KooWLRPJAA5o6wG8ZvL3wk3oFzf3VAH6T1ZWbExSxyVhHM9s",
                "capabilities": {"cpus": 4, "gpus": 1},
                "revoked": revoked,
            },
            "status": status,
        }
    )


def test_a_node_row_shows_phase_trust_credit_and_what_it_runs() -> None:
    node = _node(
        phase="Online",
        reputation=0.75,
        credits=12.5,
        currentWork=["w-1", "w-2"],
        work={"completed": 40, "leased": 42},
        lastSeen=(NOW - timedelta(seconds=4)).isoformat(),
        offered={"cpus": 2, "gpus": 0},
        address="/ip4/10.0.0.7/tcp/40111",
    )
    row = dict(zip(VIEWS["FederatedNode"].headers, VIEWS["FederatedNode"].row(node, NOW), strict=True))  # type: ignore[arg-type]
    assert row["NAME"] == "gpu-box" and row["STATUS"] == "Online"
    assert row["REPUTATION"] == "███▊· 0.75"
    assert row["CREDITS"] == "12.5"
    assert (row["CPUS"], row["GPUS"]) == ("2", "0")  # what it offers now, not the invite's ceiling
    assert row["RUN/DONE"] == "2/40"
    assert (row["SEEN"], row["AGE"]) == ("4s", "3h")
    assert row["ADDRESS"] == "/ip4/10.0.0.7/tcp/40111"


def test_a_node_being_revoked_says_so_until_the_gateway_drops_it() -> None:
    invited = VIEWS["FederatedNode"].row(_node(), NOW)  # type: ignore[arg-type]
    assert invited[1:5] == ("Invited", "····· 0.00", "0", "4")
    revoking = VIEWS["FederatedNode"].row(_node(revoked=True, phase="Online"), NOW)  # type: ignore[arg-type]
    assert revoking[1] == "Online (revoking)"
    revoked = VIEWS["FederatedNode"].row(_node(revoked=True, phase="Revoked"), NOW)  # type: ignore[arg-type]
    assert revoked[1] == "Revoked"
