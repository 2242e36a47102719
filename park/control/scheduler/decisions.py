"""What one cycle tells the controller to do, each with a reason a person can read in `park describe`."""

from __future__ import annotations

from dataclasses import dataclass

from park.control.scheduler.flavors import FlavorName
from park.control.scheduler.model import QueueName, WorkloadId
from park.control.scheduler.resources import Resources


@dataclass(frozen=True)
class Admit:
    """Start the workload. `charged` is what it holds from quota (with the gpu flavor chosen); `flavor` is
    the queue's resource flavor it was assigned (None on a queue without flavors)."""

    workload: WorkloadId
    reason: str
    queue: QueueName
    charged: Resources
    borrowed: Resources
    flavor: FlavorName | None = None


@dataclass(frozen=True)
class Preempt:
    """Suspend `victim` (it checkpoints, ends Preempted, then queues again) to make room for `by`."""

    victim: WorkloadId
    by: WorkloadId
    reason: str


@dataclass(frozen=True)
class Wait:
    """The workload stays pending; `position` is 1-based in its queue's order."""

    workload: WorkloadId
    reason: str
    position: int
    queue: QueueName


Decision = Admit | Preempt | Wait


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st: positions read as people say them."""
    teen = 10 <= number % 100 <= 20
    suffix = "th" if teen else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
