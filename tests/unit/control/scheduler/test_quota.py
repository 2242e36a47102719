"""Nominal quota, cohort borrowing, borrowing and lending limits, gpu flavors: what may be admitted."""

from __future__ import annotations

import pytest

from park.control.scheduler import QueueSpec, Resources, Workload
from tests.unit.control.scheduler.helpers import admitted, job, queue, run, waits


@pytest.mark.parametrize(
    ("title", "queues", "workloads", "expected"),
    [
        (
            "nominal quota admits up to the limit",
            [queue("a", 4)],
            [job("j1", "a", 2, created=1), job("j2", "a", 2, created=2), job("j3", "a", 1, created=3)],
            ["j1", "j2"],
        ),
        (
            "no cohort means no borrowing",
            [queue("a", 2), queue("b", 8)],
            [job("j1", "a", 3)],
            [],
        ),
        (
            "unused nominal quota of the cohort can be borrowed",
            [queue("a", 2, cohort="c"), queue("b", 8, cohort="c")],
            [job("j1", "a", 6)],
            ["j1"],
        ),
        (
            "a borrowing limit caps nominal + borrowed",
            [queue("a", 2, cohort="c", borrow=3), queue("b", 8, cohort="c")],
            [job("j1", "a", 6), job("j2", "a", 5, created=1)],
            ["j2"],
        ),
        (
            "a lending limit keeps the rest of the lender's quota for itself",
            [queue("a", 2, cohort="c"), queue("b", 8, cohort="c", lend=3)],
            [job("j1", "a", 6), job("j2", "a", 5, created=1)],
            ["j2"],
        ),
        (
            "borrowed capacity is what other queues do not use",
            [queue("a", 2, cohort="c"), queue("b", 8, cohort="c")],
            [job("busy", "b", 7, admitted=0), job("j1", "a", 4)],
            [],
        ),
        (
            "a queue always gets what it does not lend, even when the pool is drawn",
            [queue("a", 4, cohort="c", lend=1), queue("b", 0, cohort="c")],
            [job("borrower", "b", 1, admitted=0), job("j1", "a", 3)],
            ["j1"],
        ),
    ],
)
def test_quota_table(
    title: str, queues: list[QueueSpec], workloads: list[Workload], expected: list[str]
) -> None:
    assert admitted(run(queues, workloads)) == expected, title


def test_a_gang_is_admitted_whole_or_not_at_all() -> None:
    decisions = run([queue("a", 7)], [job("gang", "a", 1, pods=8), job("small", "a", 1, pods=2, created=1)])
    assert admitted(decisions) == ["small"]
    admit = next(d for d in decisions if getattr(d, "workload", "") == "small")
    assert admit.charged == Resources.of(gpu=2)  # type: ignore[union-attr]


def test_resources_no_queue_declares_are_not_limited() -> None:
    decisions = run([queue("a", 1)], [job("j", "a", per_pod=Resources.of(gpu=1, cpu=64, memory="1Ti"))])
    assert admitted(decisions) == ["j"]


def test_a_declared_resource_the_queue_lacks_cannot_be_used() -> None:
    decisions = run([queue("a", 1, cpu=0)], [job("j", "a", per_pod=Resources.of(gpu=1, cpu=1))])
    assert admitted(decisions) == []
    assert "cannot ever fit: needs 1 cpu" in waits(decisions)["j"].reason


def test_plain_gpu_goes_to_the_first_typed_flavor_with_room() -> None:
    q = queue("a", **{"gpu/nvidia-a100": 2, "gpu/nvidia-h100": 4})
    decisions = run([q], [job("small", "a", 2, created=1), job("big", "a", 3, created=2)])
    charged = {d.workload: d.charged for d in decisions if hasattr(d, "charged")}
    assert charged == {
        "small": Resources.of({"gpu/nvidia-a100": 2}),
        "big": Resources.of({"gpu/nvidia-h100": 3}),
    }


def test_typed_gpu_requests_use_only_their_flavor() -> None:
    q = queue("a", **{"gpu/nvidia-a100": 2, "gpu/nvidia-h100": 4})
    want_a100 = job("j", "a", per_pod=Resources.of({"gpu/nvidia-a100": 3}))
    assert admitted(run([q], [want_a100])) == []


def test_a_flavor_within_nominal_is_preferred_over_borrowing_the_first() -> None:
    a = queue("a", cohort="c", **{"gpu/nvidia-a100": 0, "gpu/nvidia-h100": 2})
    b = queue("b", cohort="c", **{"gpu/nvidia-a100": 4})
    decisions = run([a, b], [job("j", "a", 2)])
    assert [d.charged for d in decisions if hasattr(d, "charged")] == [Resources.of({"gpu/nvidia-h100": 2})]


def test_admit_reason_says_what_was_borrowed_and_from_where() -> None:
    decisions = run([queue("a", 1, cohort="research"), queue("b", 4, cohort="research")], [job("j", "a", 3)])
    assert decisions[0].reason.startswith("admitted: 3 gpu borrowing 2 gpu from cohort research")
