"""Resource flavors: a queue's quota per kind of node (a gpu type, a zone), assigned in the queue's order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from park.control.scheduler import (
    Admit,
    CohortName,
    FlavorName,
    FlavorQuota,
    PreemptionPolicy,
    QueueName,
    QueueSpec,
    Resources,
    Snapshot,
    WithinQueue,
    Workload,
    usage_report,
)
from park.control.scheduler.flavors import by_flavor, flavored

from .helpers import PLAIN, admitted, job, preempted, queue, run, waits


def flavor(
    name: str,
    accelerator: str | None = None,
    *,
    borrow: float | None = None,
    lend: float | None = None,
    **nominal: float,
) -> FlavorQuota:
    return FlavorQuota(
        name=FlavorName(name),
        nominal=Resources.of(nominal),
        accelerator=accelerator,
        borrowing_limit=Resources.of(gpu=borrow) if borrow is not None else None,
        lending_limit=Resources.of(gpu=lend) if lend is not None else None,
    )


def flavored_queue(
    name: str,
    *flavors: FlavorQuota,
    cohort: str | None = None,
    preemption: PreemptionPolicy | None = None,
    inactive: str | None = None,
) -> QueueSpec:
    return QueueSpec(
        name=QueueName(name),
        nominal=Resources(),
        flavors=flavors,
        cohort=CohortName(cohort) if cohort else None,
        preemption=preemption or PreemptionPolicy(),
        inactive=inactive,
    )


def gpus(name: str, q: str, count: float, accelerator: str | None = None, **kwargs: Any) -> Workload:
    amounts: dict[str, float] = {"gpu": count, "cpu": 4 * count}
    if accelerator:
        amounts[f"gpu/{accelerator}"] = count
    return job(name, q, per_pod=Resources.of(amounts), **kwargs)


def on(name: str, workload: Workload) -> Workload:
    """The workload as the controller mirrors it: with the flavor its admission names."""
    return replace(workload, flavor=FlavorName(name))


def admits(decisions: list[object]) -> dict[str, Admit]:
    return {d.workload: d for d in decisions if isinstance(d, Admit)}


H100 = "nvidia-h100"
A100 = "nvidia-a100"


def test_a_workload_goes_to_the_first_flavor_in_the_queues_order_that_has_room() -> None:
    q = flavored_queue("a", flavor("h100", H100, gpu=2), flavor("a100", A100, gpu=4))
    decisions = run([q], [gpus("first", "a", 2, created=1), gpus("second", "a", 2, created=2)])
    granted = admits(decisions)
    assert (granted["first"].flavor, granted["second"].flavor) == ("h100", "a100")
    assert granted["second"].charged == Resources.of({"gpu@a100": 2, "cpu@a100": 8})
    assert "on flavor a100" in granted["second"].reason


def test_a_job_that_names_an_accelerator_fits_only_flavors_with_it() -> None:
    q = flavored_queue("a", flavor("h100", H100, gpu=2), flavor("a100", A100, gpu=4))
    decisions = run([q], [gpus("wants-a100", "a", 1, A100), gpus("wants-h100", "a", 3, H100)])
    assert admits(decisions)["wants-a100"].flavor == "a100"
    assert waits(decisions)["wants-h100"].reason.startswith("cannot ever fit: needs 3 gpu@h100")


def test_an_accelerator_no_flavor_offers_can_never_fit_and_says_so() -> None:
    q = flavored_queue("a", flavor("h100", H100, gpu=8), flavor("cpu-only", cpu=64))
    decisions = run([q], [gpus("tpu", "a", 1, "tpu-v5")])
    reason = waits(decisions)["tpu"].reason
    assert reason.startswith(
        "cannot ever fit: asks for tpu-v5 gpus; no flavor of a has them (h100, cpu-only)"
    )


def test_a_workload_without_gpus_fits_any_flavor_in_order() -> None:
    q = flavored_queue("a", flavor("spot", cpu=4), flavor("on-demand", cpu=16))
    cpu_job = job("etl", "a", per_pod=Resources.of(cpu=8))
    assert admits(run([q], [cpu_job]))["etl"].flavor == "on-demand"


def test_quota_and_usage_are_counted_per_flavor() -> None:
    q = flavored_queue("a", flavor("h100", H100, gpu=2, cpu=100), flavor("a100", A100, gpu=4, cpu=100))
    running = on("h100", gpus("running", "a", 2, admitted=10.0))
    snapshot = Snapshot((q,), (running, gpus("next", "a", 2, H100)))
    report = usage_report(snapshot, 1000.0, PLAIN)
    usage = report.queue("a")
    assert by_flavor(usage.used) == ({}, {"h100": Resources.of(gpu=2, cpu=8)})
    assert usage.nominal == Resources.of({"gpu@h100": 2, "cpu@h100": 100, "gpu@a100": 4, "cpu@a100": 100})
    assert "needs 2 gpu@h100, a has 0 free" in report.pending["a"][0].reason


def test_an_admitted_workload_keeps_the_flavor_it_was_admitted_to() -> None:
    """The controller mirrors status.admission.flavor back: a100 stays charged, h100 stays free."""
    q = flavored_queue("a", flavor("h100", H100, gpu=2), flavor("a100", A100, gpu=2))
    on_a100 = on("a100", gpus("old", "a", 2, admitted=1.0))
    decisions = run([q], [on_a100, gpus("new", "a", 2, created=5)])
    assert admits(decisions)["new"].flavor == "h100"


def test_a_pending_workload_pinned_to_a_flavor_is_only_offered_that_flavor() -> None:
    q = flavored_queue("a", flavor("h100", H100, gpu=2), flavor("a100", A100, gpu=2))
    pinned = on("a100", gpus("replica", "a", 1))
    assert admits(run([q], [pinned]))["replica"].flavor == "a100"


def test_flavors_are_shared_in_a_cohort_by_name_and_borrowed_per_flavor() -> None:
    a = flavored_queue("a", flavor("h100", H100, gpu=2), flavor("a100", A100, gpu=0), cohort="research")
    b = flavored_queue("b", flavor("a100", A100, gpu=4), cohort="research")
    decisions = run([a, b], [gpus("big", "a", 3, A100)])
    assert admits(decisions)["big"].flavor == "a100"
    assert admits(decisions)["big"].borrowed == Resources.of({"gpu@a100": 3, "cpu@a100": 12})


def test_a_flavor_within_nominal_quota_is_preferred_over_borrowing_the_first() -> None:
    a = flavored_queue("a", flavor("h100", H100, gpu=0), flavor("a100", A100, gpu=2), cohort="c")
    b = flavored_queue("b", flavor("h100", H100, gpu=8), cohort="c")
    assert admits(run([a, b], [gpus("j", "a", 2)]))["j"].flavor == "a100"


def test_borrowing_limits_hold_per_flavor() -> None:
    a = flavored_queue("a", flavor("h100", H100, gpu=1, borrow=1), cohort="c")
    b = flavored_queue("b", flavor("h100", H100, gpu=8), cohort="c")
    decisions = run([a, b], [gpus("three", "a", 3, H100)])
    assert admitted(decisions) == []
    assert "can hold at most 2 gpu@h100" in waits(decisions)["three"].reason


def test_preemption_frees_room_only_within_the_contested_flavor() -> None:
    policy = PreemptionPolicy(within_queue=WithinQueue.LOWER_PRIORITY)
    q = flavored_queue("a", flavor("h100", H100, gpu=2), flavor("a100", A100, gpu=2), preemption=policy)
    on_h100 = on("h100", gpus("low-h100", "a", 2, admitted=1.0))
    on_a100 = on("a100", gpus("low-a100", "a", 2, admitted=1.0))
    urgent = gpus("urgent", "a", 2, H100, priority=10, created=50)
    assert preempted(run([q], [on_a100, on_h100, urgent])) == ["low-h100"]


def test_a_plain_queue_works_as_before_and_its_admissions_have_no_flavor() -> None:
    decisions = run([queue("a", 4)], [job("j", "a", 2)])
    assert admits(decisions)["j"].flavor is None
    assert admits(decisions)["j"].charged == Resources.of(gpu=2)


def test_an_inactive_queue_admits_nothing_new_and_says_why() -> None:
    why = "spec.flavors[0].name: ParkResourceFlavor 'h100' does not exist"
    q = flavored_queue("a", flavor("h100", H100, gpu=2), inactive=why)
    decisions = run([q], [gpus("j", "a", 1)])
    assert admitted(decisions) == []
    assert waits(decisions)["j"].reason == f"waiting: queue a is inactive: {why}, 1st in line"


def test_a_queue_sets_its_quota_either_plain_or_per_flavor() -> None:
    with pytest.raises(ValueError, match="nominal quota per flavor"):
        QueueSpec(name=QueueName("a"), nominal=Resources.of(gpu=1), flavors=(flavor("h100", gpu=1),))
    with pytest.raises(ValueError, match="flavor h100 is listed twice"):
        flavored_queue("a", flavor("h100", gpu=1), flavor("h100", gpu=2))


def test_flavored_names_keep_their_units() -> None:
    memory = Resources({flavored("memory", "h100"): 2**30})
    assert memory.get("memory@h100") == 2**30
    assert str(memory) == "1Gi memory@h100"
