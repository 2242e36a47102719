"""Time lost to a preemption of the `train` workload, relative to its checkpoint interval.

A run is preempted at a random step and resumed as Park resumes it (attempt 2). Work lost is what
attempt 2 must train again: the last step attempt 1 reached minus the step attempt 2 starts from.
The ratio lost / checkpoint interval is printed per case (aim: <= 1):
- graceful: SIGTERM to the driver, as Park's preemption does: the loop checkpoints at the step it
  notices, so almost nothing is lost; attempt 2 gets PARK_RESUME_FROM from the report;
- hard: SIGKILL to the whole job (the grace period ran out, the node vanished): attempt 2 finds the
  newest periodic checkpoint itself, so at most one interval is lost.
Also printed: seconds from SIGTERM to exit (must fit PARK_PREEMPT_GRACE_SECONDS) and the restart cost.

    python bench/preemption_bench.py [--seed 0] [--steps 400] [--every 50]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from park.workloads.corpus import stdlib_docstrings


def report(job_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((job_dir / "report.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def start(
    job_dir: Path, params: dict[str, Any], *, attempt: int, resume_from: str | None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PARK_JOB_DIR": str(job_dir),
        "PARK_JOB_NAME": job_dir.name,
        "PARK_ATTEMPT": str(attempt),
        "PARK_WORKLOAD_PARAMS": json.dumps(params),
        "RAY_ADDRESS": "local",
    }
    env.pop("PARK_RESUME_FROM", None)
    if resume_from:
        env["PARK_RESUME_FROM"] = resume_from
    job_dir.mkdir(parents=True, exist_ok=True)
    with (job_dir / f"attempt-{attempt}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "park.workloads.train"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a hard kill can take the job's local Ray with it
        )


def wait_for_step(job_dir: Path, process: subprocess.Popen[bytes], step: int) -> None:
    while int(report(job_dir).get("step") or 0) < step:
        if process.poll() is not None:
            raise RuntimeError(f"attempt ended before step {step}: see {job_dir}")
        time.sleep(0.02)


def wait_until_quiet(job_dir: Path, quiet_seconds: float = 3.0) -> None:
    path = job_dir / "report.json"
    while time.time() - path.stat().st_mtime < quiet_seconds:
        time.sleep(0.2)


def trial(job_dir: Path, params: dict[str, Any], *, at: int, hard: bool) -> dict[str, float]:
    first = start(job_dir, params, attempt=1, resume_from=None)
    wait_for_step(job_dir, first, at)
    signalled = time.monotonic()
    if hard:
        os.killpg(first.pid, signal.SIGKILL)
    else:
        first.send_signal(signal.SIGTERM)
    first.wait(120)
    exit_seconds = time.monotonic() - signalled
    wait_until_quiet(job_dir)  # after a hard kill, Ray workers outlive the driver for a moment
    before = report(job_dir)
    reached, rate = int(before["step"]), float(before["stepsPerSecond"])
    resume_from = None if hard else before["checkpoint"]
    restarted = time.monotonic()
    second = start(job_dir, params, attempt=2, resume_from=resume_from)
    started_at = None
    while second.poll() is None:
        now = report(job_dir)
        first_step = now.get("attempt") == 2 and now.get("startStep") is not None
        if started_at is None and first_step and int(now.get("step") or 0) > int(now["startStep"]):
            started_at = time.monotonic()
        time.sleep(0.02)
    after = report(job_dir)
    assert second.returncode == 0 and after["done"], f"attempt 2 failed: see {job_dir}"
    lost = reached - int(after["startStep"])
    return {
        "reached step": reached,
        "resumed at step": after["startStep"],
        "lost steps": lost,
        "lost seconds": lost / rate,
        "interval seconds": params["checkpoint_every_steps"] / rate,
        "ratio": lost / params["checkpoint_every_steps"],
        "exit seconds": exit_seconds,
        "restart seconds": (started_at or time.monotonic()) - restarted,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="park-preempt-bench-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text(stdlib_docstrings(max_chars=300_000))
        params = {
            "corpus": str(corpus),
            "steps": args.steps,
            "num_workers": 2,
            "d_model": 64,
            "batch_size": 16,
            "checkpoint_every_steps": args.every,
            "log_every_steps": 1,
        }
        results = {}
        for case in ("graceful", "hard"):
            at = rng.randint(args.steps // 5, args.steps * 3 // 5)
            results[case] = trial(Path(tmp) / case, params, at=at, hard=case == "hard")
            print(f"{case}: " + ", ".join(f"{k} {v:.2f}" for k, v in results[case].items()), flush=True)
    print()
    for case, result in results.items():
        print(
            f"{case} preemption: lost {result['lost steps']:.0f} steps ({result['lost seconds']:.2f}s) of a "
            f"{args.every}-step ({result['interval seconds']:.2f}s) interval; ratio lost/interval "
            f"{result['ratio']:.3f} (aim <= 1)"
        )


if __name__ == "__main__":
    main()
