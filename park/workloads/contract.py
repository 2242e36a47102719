"""The checkpoint and preemption contract between the platform and any workload.

The platform sets, for every attempt of a ParkJob:

| variable | meaning |
| --- | --- |
| PARK_JOB_NAMESPACE, PARK_JOB_NAME, PARK_ATTEMPT | which job and attempt this is |
| PARK_JOB_DIR | this job's files across attempts (report, preemption marker): a directory, or a URI |
| | (`s3://` on Kubernetes; see `park.workloads.artifacts`) |
| PARK_CHECKPOINT_DIR | where to write checkpoints (a local directory or a URI) |
| PARK_RESUME_FROM | the checkpoint to resume from, when an earlier attempt recorded one |
| PARK_PREEMPT_GRACE_SECONDS | how long the workload has after SIGTERM to checkpoint and exit |

A workload writes `report.json` in PARK_JOB_DIR (stage counts, metrics, the latest checkpoint); the
platform copies it into the ParkJob's `status.report` and `status.checkpoint`.

Preemption: the platform stops the Ray job, so SIGTERM reaches the driver. `Preemption.install()` turns
that into a marker every process of the job can see, on any node (Ray Train workers are not the
driver's children and get no signal); a training loop checks `preemption.requested()` between steps,
saves a checkpoint and returns. The platform waits PARK_PREEMPT_GRACE_SECONDS before it kills the job.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from park.workloads import artifacts

REPORT_FILE = "report.json"
PREEMPT_MARKER = "preempt-requested"
REMOTE_MARKER_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class JobContext:
    namespace: str
    name: str
    attempt: int
    job_dir: str
    """A local directory or a URI (`s3://...`): use `artifacts` or `file()` to reach what is inside."""
    checkpoint_dir: str
    resume_from: str | None
    grace_seconds: float

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, default_dir: str = ".park-job"
    ) -> JobContext:
        """Read the contract; outside the platform (plain `python -m`) fall back to a local directory."""
        env = os.environ if environ is None else environ
        raw = env.get("PARK_JOB_DIR") or default_dir
        job_dir = raw if artifacts.is_uri(raw) else str(Path(raw).resolve())
        return cls(
            namespace=env.get("PARK_JOB_NAMESPACE", "default"),
            name=env.get("PARK_JOB_NAME", "local"),
            attempt=int(env.get("PARK_ATTEMPT", "1")),
            job_dir=job_dir,
            checkpoint_dir=env.get("PARK_CHECKPOINT_DIR") or artifacts.join(job_dir, "checkpoints"),
            resume_from=env.get("PARK_RESUME_FROM") or None,
            grace_seconds=float(env.get("PARK_PREEMPT_GRACE_SECONDS", "30")),
        )

    def file(self, *names: str) -> str:
        """Where a file of this job lives (a path or a URI)."""
        return artifacts.join(self.job_dir, *names)

    @property
    def report_location(self) -> str:
        return self.file(REPORT_FILE)

    def read_report(self) -> dict[str, Any]:
        return artifacts.read_json(self.report_location) or {}

    def report(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into the job's report, written whole: the platform may read it at any time."""
        data = {**self.read_report(), **fields, "attempt": self.attempt, "updatedAt": time.time()}
        artifacts.write_json(self.report_location, data)
        return data


class Preemption:
    """SIGTERM → a marker next to the report, visible to every process of the job on every node."""

    def __init__(self, context: JobContext) -> None:
        self._marker = context.file(f"{PREEMPT_MARKER}-{context.attempt}")
        self._remote = artifacts.is_uri(self._marker)
        self._requested_at: float | None = None
        self._checked_at = float("-inf")

    @property
    def marker(self) -> str:
        return self._marker

    def install(self) -> Preemption:
        """Call once in the driver, before starting work."""
        artifacts.remove(self._marker)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.request()

    def request(self) -> None:
        self._requested_at = time.monotonic()
        artifacts.write_bytes(self._marker, b"")

    def requested(self) -> bool:
        """Cheap enough to call every training step: one stat locally, a remote look at most once a second."""
        if self._requested_at is not None:
            return True
        now = time.monotonic()
        if self._remote and now - self._checked_at < REMOTE_MARKER_CHECK_SECONDS:
            return False
        self._checked_at = now
        if artifacts.exists(self._marker):
            self._requested_at = now
            return True
        return False
