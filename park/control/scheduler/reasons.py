"""The sentences behind every decision: what `park describe` and `GET /v1/queues/{name}/pending` show.

Kept apart from the policy so the wording can change without touching a rule, and so each sentence
answers the question a person asks: why is mine waiting, why was mine stopped, what did it borrow.
"""

from __future__ import annotations

from park.control.scheduler.decisions import ordinal
from park.control.scheduler.flavors import flavor_of, wanted_accelerators
from park.control.scheduler.model import CohortName, Workload
from park.control.scheduler.preemption import Victim
from park.control.scheduler.quota import Amounts, QuotaBook
from park.control.scheduler.resources import Resources, describe, format_amount

NEVER_PREFIX = "cannot ever fit"


def admitted(
    w: Workload, option: Amounts, borrowed: Resources, cohort: CohortName | None, aged: float
) -> str:
    """`admitted: 2 gpu borrowing 1 gpu from cohort research (priority 5, +1.2 for waiting)`; on a queue
    with flavors `admitted on flavor h100: 2 gpu@h100 within team-a's nominal quota (priority 0)`."""
    where = f"within {w.queue}'s nominal quota"
    if not borrowed.is_zero():
        where = f"borrowing {borrowed} from cohort {cohort}"
    extra = f", +{aged:.1f} for waiting" if aged >= 0.05 else ""
    flavor = flavor_of(option)
    on = f" on flavor {flavor}" if flavor is not None else ""
    return f"admitted{on}: {describe(option)} {where} (priority {w.priority}{extra})"


def short(book: QuotaBook, w: Workload, option: Amounts) -> str:
    """`waiting: needs 2 gpu, team-a has 0 free` (the resources that are short, and what is free)."""
    missing = book.shortfall(w.queue, option)
    if len(missing) == 1:
        (name,) = missing
        free = format_amount(name, missing[name]).rsplit(" ", 1)[0]
        return f"waiting: needs {describe(option, missing)}, {w.queue} has {free} free"
    return f"waiting: needs {describe(option, missing)}; {w.queue} has {describe(missing)} free"


def held(waited_s: float) -> str:
    return f" (waited {duration(waited_s)}: capacity is held for it)"


def never(book: QuotaBook, w: Workload) -> str:
    """Why a workload can never be admitted as its queues are set up (it is not a blocker)."""
    options = book.options_for(w)
    if not options:
        return no_flavor(book, w)
    option = options[0]
    ceiling = {n: book.ceiling(w.queue, n) for n in option}
    too_big = [n for n in option if option[n] > ceiling[n]]
    return (
        f"{NEVER_PREFIX}: needs {describe(option, too_big)}, "
        f"{w.queue} can hold at most {describe(ceiling, too_big)} even with its cohort idle"
    )


def no_flavor(book: QuotaBook, w: Workload) -> str:
    """No flavor of the queue may run it: it asks for a gpu type none has (or for a flavor it lacks)."""
    spec = book.spec(w.queue)
    names = ", ".join(f.name for f in spec.flavors)
    if w.flavor is not None:
        return f"{NEVER_PREFIX}: it runs on flavor {w.flavor}, which {w.queue} does not list ({names})"
    wanted = ", ".join(sorted(wanted_accelerators(w.demand.nonzero())))
    return f"{NEVER_PREFIX}: asks for {wanted} gpus; no flavor of {w.queue} has them ({names})"


def inactive(queue: str, why: str) -> str:
    return f"waiting: queue {queue} is inactive: {why}"


def terminating(queue: str) -> str:
    return f"waiting: queue {queue} is being deleted and admits nothing new"


def waiting_for_victims(count: int) -> str:
    return f"waiting for {count} preempted workload{'s' if count != 1 else ''} to release capacity"


def preempted(victim: Victim, by: Workload, needed: Amounts, threshold: int | None) -> str:
    """`preempted by team-b/chat-serve: needed 1 gpu` plus the rule that allowed it."""
    v = victim.holder.workload
    head = f"preempted by {by.id}: needed {describe(needed) or 'capacity'}"
    if victim.why == "queue":
        if v.priority < by.priority:
            return f"{head} (priority {by.priority} > {v.priority} in {v.queue})"
        return f"{head} (same priority {v.priority}, queued after it in {v.queue})"
    if victim.why == "reclaim":
        return f"{head} ({by.queue} reclaims its nominal quota; {v.queue} was borrowing)"
    limit = f" <= threshold {threshold}" if threshold is not None else f" < {by.priority}"
    return f"{head} ({v.queue} was borrowing; priority {v.priority}{limit})"


def behind_strict_head(head: str) -> str:
    return f"waiting: behind {head} in StrictFIFO order"


def same_as(head: str, head_note: str) -> str:
    """For the rest of a group of equal demand: they wait for the same reason as its head."""
    if head_note.startswith(NEVER_PREFIX):
        return f"{NEVER_PREFIX}: asks the same as {head}"
    return f"waiting: asks the same as {head}, which does not fit yet"


IN_LINE = " in line"


def in_line(reason: str, position: int) -> str:
    return f"{reason}, {ordinal(position)}{IN_LINE}"


def without_place(message: str) -> str:
    """The reason a wait message gives, without its place in line."""
    return message.rpartition(", ")[0] if message.endswith(IN_LINE) and ", " in message else message


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m" if seconds >= 60 else f"{seconds:.0f}s"
