"""One scheduling cycle: walk each cohort's queue heads in fair order and admit, preempt or wait.

Per cohort (cohorts never share capacity, so each is decided on its own, in name order):
0. Nominated workloads first: they preempted, so the room their victims free must go to them, not
   back to the victims' queue or to whoever the fair order would pick next.
1. Pick the next head among the cohort's queues by weighted dominant share (fair sharing; without
   it: not borrowing before borrowing), then effective priority, then queue time, then id. A head
   that fits competes with the share its queue would have once it is admitted (as in Kueue); a head
   that does not fit competes with its queue's share now, so it never pushes back the workloads
   behind it.
2. Admit it if it fits (its nominal quota first, else borrowing), charged whole (gangs never split).
3. Else plan a preemption. New victims get Preempt decisions, but their capacity counts only once
   they are gone, as in Kueue: the preemptor Waits (nominated) and holds what it asked for, so
   nothing later in the cycle takes the room it is making.
4. Else it Waits. A StrictFIFO queue stops for this cycle; a BestEffortFIFO queue goes on past it
   (skipping its group of equal demand). The first workload of a cohort waiting past
   `starvation_after_s` holds its demand, so the workloads it outranks stop overtaking it forever
   (kueue#754); one that outranks it may still use the room. One hold per cohort at a time: every
   hold idles gpus while a gang gathers, and on a backlog most workloads are old; aging rotates
   which one it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from park.control.scheduler import reasons
from park.control.scheduler.decisions import Admit, Decision, Preempt, Wait
from park.control.scheduler.flavors import flavor_of
from park.control.scheduler.model import (
    PolicyConfig,
    PreemptionPolicy,
    QueueingStrategy,
    QueueName,
    QueueSpec,
    Snapshot,
    Workload,
    WorkloadId,
)
from park.control.scheduler.ordering import Cursor, effective_priority, is_starving, order_key
from park.control.scheduler.preemption import Hints, Plan, Request, plan
from park.control.scheduler.quota import Amounts, CohortKey
from park.control.scheduler.report import CycleNotes, SchedulerReport, build_report, explain_rest
from park.control.scheduler.resources import Resources
from park.control.scheduler.state import ClusterState

PickKey = tuple[float, tuple[float, float, str]]


class _Outcome(Enum):
    ADMITTED = "admitted"
    HOLDING = "holding"
    """Waits, but holds capacity (it preempted, or it starves): the cohort's state changed."""
    WAITING = "waiting"
    NEVER = "never"


@dataclass(frozen=True)
class _Hold:
    """Capacity a starving workload holds this cycle; `rank` is its effective priority."""

    queue: QueueName
    amounts: Amounts
    rank: float


class Scheduler:
    """A long-lived engine fed by deltas; pure (no I/O, no clock): `now` comes with every cycle."""

    def __init__(self, config: PolicyConfig | None = None, queues: tuple[QueueSpec, ...] = ()) -> None:
        self.config = config or PolicyConfig()
        self.state = ClusterState(queues)
        self._notes = CycleNotes()
        self._holds: dict[CohortKey, _Hold] = {}

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, config: PolicyConfig | None = None) -> Scheduler:
        engine = cls(config, snapshot.queues)
        for workload in snapshot.workloads:
            engine.upsert(workload)
        return engine

    def upsert(self, workload: Workload) -> None:
        self.state.upsert(workload)

    def remove(self, workload_id: WorkloadId) -> None:
        self.state.remove(workload_id)

    def set_queues(self, queues: tuple[QueueSpec, ...]) -> None:
        self.state.set_queues(queues)

    def sync(self, snapshot: Snapshot) -> None:
        self.state.sync(snapshot)

    def cycle(self, now: float, *, explain_all: bool = False) -> list[Decision]:
        """Decide once. The engine assumes its own decisions (admitted, evicting) until told otherwise.

        Waits are emitted for the workloads this cycle examined; `explain_all` adds one for every other
        pending workload too (O(pending): for a one-shot call, not for a hot loop).
        """
        self._notes.clear()
        self._holds.clear()
        out: list[Decision] = []
        for key in self.state.book.cohorts():
            self._run_cohort(key, now, out)
        self.state.book.clear_reservations()
        for orphan in self.state.orphans():
            out.append(Wait(orphan.id, self._notes.reason_for(orphan, known_queue=False), 1, orphan.queue))
        if explain_all:
            out.extend(explain_rest(self.state, self._notes, now, self.config))
        return out

    def report(self, now: float) -> SchedulerReport:
        return build_report(self.state, self._notes, now, self.config)

    # ------------------------------------------------------------------ the cohort walk

    def _run_cohort(self, key: CohortKey, now: float, out: list[Decision]) -> None:
        state = self.state
        for name in state.book.queues_in(key):
            if state.specs[name].closed:
                self._close(name, now, out)
        done = self._serve_nominated(key, now, out)
        cursors = {
            name: Cursor(state.pending[name], now, self.config)
            for name in state.book.queues_in(key)
            if len(state.pending[name]) and not state.specs[name].closed
        }
        keys: dict[QueueName, PickKey] = {}
        while cursors:
            name, head = self._pick(cursors, keys, now)
            cursor = cursors[name]
            outcome = done.get(head.id) or self._place(head, now, out)
            if outcome is _Outcome.ADMITTED:
                cursor.taken(head)
            elif outcome is not _Outcome.NEVER and state.specs[name].strategy is QueueingStrategy.STRICT_FIFO:
                self._notes.blockers[(name, None)] = head.id
                cursor.clear()
            else:
                self._notes.blockers[(name, cursor.skip_group())] = head.id
            if cursor.peek() is None:
                del cursors[name]
            self._invalidate(keys, name, outcome)

    def _serve_nominated(self, key: CohortKey, now: float, out: list[Decision]) -> dict[WorkloadId, _Outcome]:
        """Place the cohort's nominated workloads before anyone else; the walk then skips them."""
        state = self.state
        nominated = [
            w
            for name in state.book.queues_in(key)
            if not state.specs[name].closed
            for w in state.nominated[name].values()
        ]
        done = {}
        for w in sorted(nominated, key=lambda w: order_key(w, now, self.config)):
            done[w.id] = self._place(w, now, out)
            if done[w.id] is _Outcome.ADMITTED:
                state.pending[w.queue].remove(w)
        return done

    def _close(self, name: QueueName, now: float, out: list[Decision]) -> None:
        """A queue being deleted or inactive: everything it has pending waits, told why (a rare state)."""
        spec = self.state.specs[name]
        note = reasons.terminating(name) if spec.terminating else reasons.inactive(name, spec.inactive or "")
        for position, w in enumerate(self.state.pending[name].ordered(now, self.config), start=1):
            self._notes.notes[w.id] = note
            out.append(Wait(w.id, reasons.in_line(note, position), position, name))

    @staticmethod
    def _invalidate(keys: dict[QueueName, PickKey], name: QueueName, outcome: _Outcome) -> None:
        """A wait changes only the served queue's head; an admission or a hold changes what fits."""
        if outcome is _Outcome.ADMITTED or outcome is _Outcome.HOLDING:
            keys.clear()
        else:
            keys.pop(name, None)

    def _pick(
        self, cursors: dict[QueueName, Cursor], keys: dict[QueueName, PickKey], now: float
    ) -> tuple[QueueName, Workload]:
        best: tuple[PickKey, QueueName] | None = None
        for name, cursor in cursors.items():
            key = keys.get(name)
            if key is None:
                head = cursor.peek()
                assert head is not None
                key = keys[name] = self._pick_key(head, now)
            if best is None or key < best[0]:
                best = (key, name)
        assert best is not None
        head = cursors[best[1]].peek()
        assert head is not None
        return best[1], head

    def _pick_key(self, head: Workload, now: float) -> PickKey:
        book, q = self.state.book, head.queue
        option = next((o for o in book.options_for(head) if book.fits(q, o)), None)
        if self.config.fair_sharing:
            share = book.share(q) if option is None else book.share(q, option)
        elif option is None:
            share = 1.0 if book.is_borrowing(q) else 0.0
        else:
            share = 0.0 if book.fits(q, option, borrow=False) else 1.0
        return (share, order_key(head, now, self.config))

    # ------------------------------------------------------------------ one workload

    def _place(self, w: Workload, now: float, out: list[Decision]) -> _Outcome:
        """Admit `w`, or preempt for it, or record why it waits (past a hold it outranks)."""
        hold = self._holds.get(self.state.book.cohort_of(w.queue))
        if hold is None or effective_priority(w, now, self.config) <= hold.rank:
            return self._try(w, now, out)
        with self.state.book.lifted(hold.queue, hold.amounts):
            return self._try(w, now, out)

    def _try(self, w: Workload, now: float, out: list[Decision]) -> _Outcome:
        book = self.state.book
        options = [o for o in book.options_for(w) if book.ever_fits(w.queue, o)]
        if not options:
            # Not a blocker even under StrictFIFO: waiting for it would stop the queue for good.
            self._wait(w, reasons.never(book, w), now, out)
            return _Outcome.NEVER
        for borrow in (False, True):
            for option in options:
                if book.fits(w.queue, option, borrow=borrow):
                    self._admit(w, option, now, out)
                    return _Outcome.ADMITTED
        for option in options:
            chosen = self._plan(w, option, now)
            if chosen is not None:
                self._preempt(w, option, chosen, now, out)
                return _Outcome.HOLDING
        note = reasons.short(book, w, options[0])
        cohort = book.cohort_of(w.queue)
        if is_starving(w, now, self.config) and cohort not in self._holds:
            self._holds[cohort] = _Hold(w.queue, options[0], effective_priority(w, now, self.config))
            book.reserve(w.queue, options[0])
            self._wait(w, note + reasons.held(now - w.queue_time), now, out)
            return _Outcome.HOLDING
        self._wait(w, note, now, out)
        return _Outcome.WAITING

    def _plan(self, w: Workload, option: Amounts, now: float) -> Plan | None:
        spec = self.state.specs[w.queue]
        key = self.state.book.cohort_of(w.queue)
        if spec.preemption == _NO_PREEMPTION and not self.state.evicting.get(key):
            return None
        lowest = min(self.state.floors[w.queue], default=None)
        hints = Hints(any_in_flight=bool(self.state.evicting.get(key)), lowest_priority=lowest)
        return plan(Request(w, option, now, self.config), self.state.book, self.state.admitted, hints)

    def _admit(self, w: Workload, option: Amounts, now: float, out: list[Decision]) -> None:
        book = self.state.book
        before = book.borrowed(w.queue)
        self.state.admit(w, option, now)
        borrowed = book.borrowed(w.queue) - before
        aged = effective_priority(w, now, self.config) - w.priority
        reason = reasons.admitted(w, option, borrowed, self.state.specs[w.queue].cohort, aged)
        out.append(Admit(w.id, reason, w.queue, Resources(dict(option)), borrowed, flavor_of(option)))

    def _preempt(self, w: Workload, option: Amounts, chosen: Plan, now: float, out: list[Decision]) -> None:
        book = self.state.book
        needed = {n: option[n] - free for n, free in book.shortfall(w.queue, option).items()}
        threshold = self.state.specs[w.queue].preemption.max_priority_threshold
        for victim in chosen.new:
            reason = reasons.preempted(victim, w, needed, threshold)
            out.append(Preempt(victim.holder.workload.id, w.id, reason))
            self.state.mark_evicting(victim.holder)
        if chosen.new and not w.nominated:
            w = self.state.nominate(w)
        book.reserve(w.queue, option)
        self._wait(w, reasons.waiting_for_victims(len(chosen.victims)), now, out)

    def _wait(self, w: Workload, note: str, now: float, out: list[Decision]) -> None:
        self._notes.notes[w.id] = note
        position = self.state.pending[w.queue].position(w, now, self.config)
        out.append(Wait(w.id, reasons.in_line(note, position), position, w.queue))


_NO_PREEMPTION = PreemptionPolicy()


def schedule(
    snapshot: Snapshot, now: float, config: PolicyConfig | None = None, *, explain_all: bool = True
) -> list[Decision]:
    """One deterministic cycle over a full snapshot: same input (in any order) → same decisions.

    Builds a fresh engine, so it costs O(workloads); a controller that runs cycles back to back
    should keep a `Scheduler` and feed it deltas (or `sync`) instead.
    """
    return Scheduler.from_snapshot(snapshot, config).cycle(now, explain_all=explain_all)


def usage_report(snapshot: Snapshot, now: float, config: PolicyConfig | None = None) -> SchedulerReport:
    """Usage and pending order with reasons, as they stand after one cycle at `now`."""
    engine = Scheduler.from_snapshot(snapshot, config)
    engine.cycle(now)
    return engine.report(now)
