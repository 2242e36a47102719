"""Verification under attack: Park's adaptive scheme against full two-way replication (BOINC's default).

Run from the repository root: `python bench/verification_bench.py` (about 1 min on 2 cores; `--tasks`
and `--seed` change the run). Both schemes run the same simulation (`park.federation.verification.
simulate`: the real `Verifier`, work queue, trust book and ledger, nodes that lease and answer in a loop)
on the same tasks with the same seed, for the deterministic work type `sha256-chain` (exact comparison):

1. adversaries: 10 honest nodes plus one node per adversary (random, lazy, cheap: right 70% of the time,
   replayer) and a colluding pair. Per adversary: the share of its bad results that earned no credit,
   the same for its first 20 units, and how many units it ran before it was revoked; then honest nodes
   penalised, wrong results accepted as a task's output, and the overhead (units run beyond one per
   task / one per task) over the whole run and at steady state: the tasks decided after the first half
   (by then every honest node is trusted and every adversary revoked; the table says whether that held).
2. turncoats: 10 honest nodes plus `--turncoats` nodes that answer honestly for their first
   `--honest-for` units (well past the 20 valid results that make a node trusted, and past the
   bootstrap) and then wrong `--turncoat-rate` of the time, in `--turncoat-runs` runs (seeds `--seed`,
   `--seed` + 1, ...) for each `spot_check_rate` in `--spot-rates`: what spot checks, the replicas a
   turncoat runs for others and canaries catch, how soon, what they cost, and what canaries built on a
   wrong accepted output do to honest nodes. Full replication has no spot-check rate: its runs are the
   same in each block.

Everything is deterministic for a given seed; the run asserts that the verifier's tally accounts for
every unit the nodes ran.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from park.federation.apps import sha256_chain
from park.federation.verification.engine import VerificationPolicy, WorkType, exact
from park.federation.verification.simulate import Outcome, SimNode, Window, simulate

CHAIN = WorkType(app="sha256-chain", compare=exact, credit_cap=lambda payload: 5.0)
ADVERSARIES = [  # (label, behaviour, bad_rate, nodes)
    ("random", "random", 1.0, 1),
    ("lazy", "lazy", 1.0, 1),
    ("cheap (right 70%)", "cheap", 0.3, 1),
    ("replayer", "replayer", 1.0, 1),
    ("colluding pair", "colluder", 1.0, 2),
]
HONEST = 10
TARGET_OVERHEAD, TARGET_EARLY = 0.15, 0.99


@dataclass(frozen=True)
class Row:
    measure: str
    target: str = ""
    adaptive: str = ""
    full: str = ""
    ratio: str = ""


@dataclass(frozen=True)
class Run:
    outcome: Outcome
    seconds: float

    def group(self, prefix: str) -> list[SimNode]:
        return [n for n in self.outcome.nodes if n.name.startswith(prefix)]


def run(nodes: list[SimNode], policy: VerificationPolicy, tasks: int, seed: int) -> Run:
    started = time.perf_counter()
    outcome = simulate(
        nodes,
        tasks=tasks,
        policy=policy,
        work_type=CHAIN,
        make_payload=lambda i: {"seed": f"s{i}", "rounds": 1},
        answer=sha256_chain,
        seed=seed,
    )
    units = sum(n.units for n in nodes)
    if outcome.undecided == 0 and units != outcome.useful + outcome.extra:
        raise AssertionError(f"tally ({outcome.useful} + {outcome.extra}) != units run ({units})")
    return Run(outcome, time.perf_counter() - started)


def honest_nodes() -> list[SimNode]:
    return [SimNode(f"honest-{i}", "honest") for i in range(HONEST)]


def adversary_nodes() -> list[SimNode]:
    return honest_nodes() + [
        SimNode(f"{label}#{k}", behaviour, bad_rate=rate)
        for label, behaviour, rate, count in ADVERSARIES
        for k in range(count)
    ]


def turncoat_nodes(count: int, honest_for: int, rate: float) -> list[SimNode]:
    turncoats = [
        SimNode(f"turncoat#{k}", "turncoat", bad_rate=rate, honest_for=honest_for) for k in range(count)
    ]
    return honest_nodes() + turncoats


# ---------------------------------------------------------------- formatting


def share(part: int, whole: int) -> str:
    return f"{part:,}/{whole:,} ({part / whole:.0%})" if whole else "0/0"


def pct(value: float) -> str:
    return f"{value:.1%}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else ""


def mark(ok: bool) -> str:
    return " ✓" if ok else " ✗"


def revoked(nodes: Iterable[SimNode]) -> str:
    """The units each node ran before it was revoked."""
    return ", ".join(str(n.revoked_after) if n.revoked_after is not None else "never" for n in nodes)


def early(nodes: list[SimNode]) -> str:
    """Bad results in the nodes' first 20 units that earned no credit, against the target."""
    part, whole = sum(n.caught_in_first_20 for n in nodes), sum(n.bad_in_first_20 for n in nodes)
    return share(part, whole) + mark(not whole or part / whole >= TARGET_EARLY)


# ---------------------------------------------------------------- scenario 1: adversaries


def adversary_rows(adaptive: Run, full: Run) -> list[Row]:
    rows: list[Row] = []
    for label, *_ in ADVERSARIES:
        cells = []
        for r in (adaptive, full):
            nodes = r.group(label + "#")
            caught = share(sum(n.bad_caught for n in nodes), sum(n.bad for n in nodes))
            cells.append((caught, early(nodes), revoked(nodes)))
        (a_caught, a_early, a_revoked), (f_caught, f_early, f_revoked) = cells
        rows += [
            Row(label),
            Row("  bad results caught (no credit)", "", a_caught, f_caught),
            Row("  ... within its first 20 units", f">= {TARGET_EARLY:.0%}", a_early, f_early),
            Row("  units it ran before it was revoked", "", a_revoked, f_revoked),
        ]
    return rows


def penalised(runs: list[Run]) -> str:
    """Honest nodes that earned an invalid verdict: how many, for how many results, how many revoked."""
    nodes = [n for r in runs for n in r.group("honest-")]
    hit = sum(bool(n.penalised) for n in nodes)
    if not hit:
        return "0" + mark(True)
    gone = sum(n.revoked_after is not None for n in nodes)
    return f"{hit} ({sum(n.penalised for n in nodes)} results, {gone} revoked)" + mark(False)


def totals(adaptive: Run, full: Run, tasks: int) -> list[Row]:
    def adversaries(r: Run) -> list[SimNode]:
        return [n for n in r.outcome.nodes if n.behaviour != "honest"]

    def window(r: Run) -> Window:
        assert r.outcome.steady is not None
        return r.outcome.steady

    def steady(r: Run) -> str:
        return pct(window(r).overhead()) + mark(window(r).overhead() <= TARGET_OVERHEAD)

    def steady_state(r: Run) -> str:
        w = window(r)
        return f"{w.trusted_at_start}/{HONEST}, {w.revoked_at_start}/{len(adversaries(r))}"

    a, f = adaptive.outcome, full.outcome
    a_units, f_units = a.useful + a.extra, f.useful + f.extra
    return [
        Row("all adversaries: bad results caught within first 20 units", f">= {TARGET_EARLY:.0%}",
            early(adversaries(adaptive)), early(adversaries(full))),
        Row("honest nodes penalised", "0", penalised([adaptive]), penalised([full])),
        Row("wrong results accepted as task outputs", "0", str(a.accepted_bad), str(f.accepted_bad)),
        Row("tasks failed (no quorum after max_replicas)", "", str(a.failed), str(f.failed)),
        Row("units run per task", "", f"{a_units / tasks:.3f}", f"{f_units / tasks:.3f}",
            ratio(a_units, f_units)),
        Row("overhead, whole run (extra units / useful units)", "", pct(a.overhead()), pct(f.overhead()),
            ratio(a.overhead(), f.overhead())),
        Row(f"overhead, steady state (tasks {window(adaptive).decided_at_start + 1:,}-{tasks:,})",
            f"<= {TARGET_OVERHEAD:.0%}", steady(adaptive), steady(full),
            ratio(window(adaptive).overhead(), window(full).overhead())),
        Row("  at its start: honest nodes trusted, adversaries revoked", "", steady_state(adaptive),
            steady_state(full)),
    ]  # fmt: skip


# ---------------------------------------------------------------- scenario 2: turncoats


def turncoat_rows(rate: float, adaptive: list[Run], full: list[Run], default: bool) -> list[Row]:
    """Over every run of the block (one per seed), all turncoats together."""

    def turned(runs: list[Run]) -> list[SimNode]:
        return [n for r in runs for n in r.group("turncoat#")]

    def caught(runs: list[Run]) -> str:
        nodes = turned(runs)
        return share(sum(n.bad_caught for n in nodes), sum(n.bad for n in nodes))

    def accepted(runs: list[Run]) -> str:
        mine, wrong = sum(n.bad_accepted for n in turned(runs)), sum(r.outcome.accepted_bad for r in runs)
        return f"{mine}" + (f" (all wrong outputs: {wrong})" if wrong != mine else "")

    def gaps(runs: list[Run], attribute: str) -> str:
        """Units a turncoat ran from its first bad result to its first caught one / its revocation; one
        that it never reached before the run ended counts as longer than any other."""
        nodes = [n for n in turned(runs) if n.first_bad_at is not None]
        values = [
            getattr(n, attribute) - n.first_bad_at if getattr(n, attribute) is not None else math.inf
            for n in nodes
        ]
        if not values:
            return "no bad result"
        middle = statistics.median_low(values)
        never = sum(v == math.inf for v in values)
        text = "median: never" if middle == math.inf else f"median {middle:g}"
        return text + (f" ({never}/{len(values)} never)" if never else f", max {max(values):g}")

    def framed(runs: list[Run]) -> str:
        """Right answers judged invalid: by a canary built on a wrong output (or outvoted)."""
        honest = sum(n.wrongly_penalised for r in runs for n in r.group("honest-"))
        return f"{honest} / {sum(n.wrongly_penalised for n in turned(runs))}"

    def poisoned(runs: list[Run]) -> str:
        return str(sum(r.outcome.poisoned_canaries for r in runs))

    def steady(runs: list[Run]) -> float:
        windows = [r.outcome.steady for r in runs if r.outcome.steady is not None]
        return sum(w.extra for w in windows) / max(sum(w.useful for w in windows), 1)

    return [
        Row(f"spot_check_rate {rate:g}" + (" (default)" if default else "")),
        Row("  turncoats' bad results caught (no credit)", "", caught(adaptive), caught(full)),
        Row("  ... accepted as task outputs", "0", accepted(adaptive), accepted(full)),
        Row("  units from 1st bad result to 1st one caught", "", gaps(adaptive, "first_caught_at"),
            gaps(full, "first_caught_at")),
        Row("  units from 1st bad result to revocation", "", gaps(adaptive, "revoked_after"),
            gaps(full, "revoked_after")),
        Row("  canaries whose expected answer was wrong", "0", poisoned(adaptive), poisoned(full)),
        Row("  right answers judged invalid: honest / turncoats", "0 / 0", framed(adaptive), framed(full)),
        Row("  honest nodes penalised", "0", penalised(adaptive), penalised(full)),
        Row("  overhead, steady state", f"<= {TARGET_OVERHEAD:.0%}",
            pct(steady(adaptive)) + mark(steady(adaptive) <= TARGET_OVERHEAD), pct(steady(full)),
            ratio(steady(adaptive), steady(full))),
    ]  # fmt: skip


# ---------------------------------------------------------------- report


def render(sections: list[tuple[str, list[Row]]], title: str, caption: str) -> None:
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for column in ("measure", "target", "Park adaptive", "full 2x replication", "adaptive / full"):
        table.add_column(
            column, justify="left" if column == "measure" else "right", no_wrap=column == "measure"
        )
    for heading, rows in sections:
        table.add_section()
        table.add_row(f"[bold]{heading}[/bold]")
        for row in rows:
            table.add_row(row.measure, row.target, row.adaptive, row.full, row.ratio)
    Console(width=150).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000, help="tasks per simulated run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--turncoats", type=int, default=3, help="turncoats per turncoat run")
    parser.add_argument("--honest-for", type=int, default=100, help="units a turncoat runs honestly first")
    parser.add_argument("--turncoat-rate", type=float, default=0.1, help="how often a turned node cheats")
    parser.add_argument("--turncoat-runs", type=int, default=5, help="turncoat runs (seeds) per rate")
    parser.add_argument("--spot-rates", default="0.02,0.05,0.1", help="spot_check_rate values for turncoats")
    args = parser.parse_args()
    started = time.perf_counter()
    tasks, seed = args.tasks, args.seed
    default_spot = VerificationPolicy().spot_check_rate

    adaptive = run(adversary_nodes(), VerificationPolicy(mode="adaptive"), tasks, seed)
    full = run(adversary_nodes(), VerificationPolicy(mode="full"), tasks, seed)
    adversaries = len(adversary_nodes()) - HONEST
    sections = [
        (f"{HONEST} honest nodes + {adversaries} adversaries, seed {seed}", adversary_rows(adaptive, full)),
        ("all nodes", totals(adaptive, full, tasks)),
    ]

    def turncoats() -> list[SimNode]:
        return turncoat_nodes(args.turncoats, args.honest_for, args.turncoat_rate)

    seeds = range(seed, seed + args.turncoat_runs)
    turn_full = [run(turncoats(), VerificationPolicy(mode="full"), tasks, s) for s in seeds]
    rows: list[Row] = []
    for rate in (float(r) for r in args.spot_rates.split(",")):
        policy = VerificationPolicy(mode="adaptive", spot_check_rate=rate)
        turn = [run(turncoats(), policy, tasks, s) for s in seeds]
        rows += turncoat_rows(rate, turn, turn_full, default=rate == default_spot)
    heading = (
        f"{HONEST} honest + {args.turncoats} turncoats, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} runs)"
    )
    sections.append((heading, rows))

    seconds = time.perf_counter() - started
    title = (
        f"Verification, sha256-chain, {tasks:,} tasks per run: Park adaptive vs full replication,"
        f" {seconds:.1f} s"
    )
    caption = (
        "caught = earned no credit (judged invalid, outvoted, or never used). overhead = units run beyond one"
        " per task / one per task (replicas, canaries, failed tasks). steady state = the tasks decided after"
        " the first half of them, once every honest node is trusted and every adversary revoked (the row"
        f" under it checks this). A turncoat answers honestly for its first {args.honest_for} units (it is"
        f" trusted after {VerificationPolicy().trust_after} valid results in a row, and the mesh is past its"
        f" bootstrap), then wrongly {args.turncoat_rate:.0%} of the time. Full replication has no spot"
        " checks: its turncoat runs are the same in each block."
    )
    render(sections, title, caption)


if __name__ == "__main__":
    main()
