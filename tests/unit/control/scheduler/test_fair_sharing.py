"""Queues competing for a cohort's borrowable capacity share it by weighted dominant resource share."""

from __future__ import annotations

from collections import Counter

import pytest

from park.control.scheduler import Admit, PolicyConfig, Resources
from tests.unit.control.scheduler.helpers import PLAIN, job, queue, run


def _split(weights: tuple[float, float], config: PolicyConfig = PLAIN) -> Counter[str]:
    queues = [
        queue("lender", 12, cohort="c"),
        queue("a", 0, cohort="c", weight=weights[0]),
        queue("b", 0, cohort="c", weight=weights[1]),
    ]
    # a's workloads all arrived first: only fair sharing stops a from taking the whole pool.
    workloads = [
        job(f"{q}-{i}", q, 1, created=i + offset) for q, offset in (("a", 0), ("b", 100)) for i in range(20)
    ]
    return Counter(d.queue for d in run(queues, workloads, config=config) if isinstance(d, Admit))


@pytest.mark.parametrize(("weights", "expected"), [((1, 1), (6, 6)), ((1, 2), (4, 8)), ((3, 1), (9, 3))])
def test_borrowed_capacity_splits_by_weight(weights: tuple[float, float], expected: tuple[int, int]) -> None:
    split = _split(weights)
    assert (split["a"], split["b"]) == expected


def test_without_fair_sharing_first_come_takes_the_pool() -> None:
    fifo = PolicyConfig(aging_interval_s=None, starvation_after_s=None, min_runtime_s=0, fair_sharing=False)
    split = _split((1, 1), fifo)
    assert (split["a"], split["b"]) == (12, 0)


def test_a_queue_within_its_nominal_quota_goes_before_borrowers() -> None:
    queues = [queue("owner", 2, cohort="c"), queue("borrower", 0, cohort="c")]
    workloads = [job("borrow", "borrower", 2, created=0, priority=100), job("own", "owner", 2, created=5)]
    admits = [d.workload for d in run(queues, workloads) if isinstance(d, Admit)]
    assert admits == ["own"]


def test_dominant_share_takes_the_scarcest_resource() -> None:
    queues = [
        queue("lender", 4, cohort="c", cpu=100),
        queue("gpu-heavy", 0, cohort="c", cpu=0),
        queue("cpu-heavy", 0, cohort="c", cpu=0),
        # each gpu-heavy job takes 1/4 of the gpus, each cpu-heavy one 1/4 of the cpus: they alternate,
        # until the cpus run out (the gpu jobs take 1 cpu each) and only gpu jobs still fit.
    ]
    workloads = [
        *(job(f"g{i}", "gpu-heavy", per_pod=Resources.of(gpu=1, cpu=1), created=i) for i in range(10)),
        *(job(f"c{i}", "cpu-heavy", per_pod=Resources.of(cpu=25), created=i) for i in range(10)),
    ]
    split = Counter(d.queue for d in run(queues, workloads) if isinstance(d, Admit))
    assert (split["gpu-heavy"], split["cpu-heavy"]) == (4, 3)
