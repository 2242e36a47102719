"""The checkpoint and preemption contract between the platform and any workload.

The platform sets, for every attempt of a ParkJob:

| variable | meaning |
| --- | --- |
| PARK_JOB_NAMESPACE, PARK_JOB_NAME, PARK_ATTEMPT | which job and attempt this is |
| PARK_JOB_DIR | a directory that belongs to this job across attempts (report, preemption marker) |
| PARK_CHECKPOINT_DIR | where to write checkpoints (a local directory or a pyarrow/fsspec URI) |
| PARK_RESUME_FROM | the checkpoint to resume from, when an earlier attempt recorded one |
| PARK_PREEMPT_GRACE_SECONDS | how long the workload has after SIGTERM to checkpoint and exit |

A workload writes `report.json` in PARK_JOB_DIR (stage counts, metrics, the latest checkpoint); the
platform copies it into the ParkJob's `status.report` and `status.checkpoint`.

Preemption: the platform stops the Ray job, so SIGTERM reaches the driver. `Preemption.install()` turns
that into a marker file every process of the job can see (Ray Train workers are not the driver's
children and get no signal); a training loop checks `preemption.requested()` between steps, saves a
checkpoint and returns. The platform waits PARK_PREEMPT_GRACE_SECONDS before it kills the job.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

REPORT_FILE = "report.json"
PREEMPT_MARKER = "preempt-requested"


@dataclass(frozen=True)
class JobContext:
    namespace: str
    name: str
    attempt: int
    job_dir: Path
    checkpoint_dir: str
    resume_from: str | None
    grace_seconds: float

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, default_dir: str = ".park-job"
    ) -> JobContext:
        """Read the contract; outside the platform (plain `python -m`) fall back to a local directory."""
        env = os.environ if environ is None else environ
        job_dir = Path(env.get("PARK_JOB_DIR") or default_dir).resolve()
        return cls(
            namespace=env.get("PARK_JOB_NAMESPACE", "default"),
            name=env.get("PARK_JOB_NAME", "local"),
            attempt=int(env.get("PARK_ATTEMPT", "1")),
            job_dir=job_dir,
            checkpoint_dir=env.get("PARK_CHECKPOINT_DIR") or str(job_dir / "checkpoints"),
            resume_from=env.get("PARK_RESUME_FROM") or None,
            grace_seconds=float(env.get("PARK_PREEMPT_GRACE_SECONDS", "30")),
        )

    @property
    def report_path(self) -> Path:
        return self.job_dir / REPORT_FILE

    def read_report(self) -> dict[str, Any]:
        try:
            data = json.loads(self.report_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def report(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into the job's report (atomically: the platform may read it at any time)."""
        data = {**self.read_report(), **fields, "attempt": self.attempt, "updatedAt": time.time()}
        self.job_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.report_path.with_name(f".{REPORT_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self.report_path)
        return data


class Preemption:
    """SIGTERM → a marker file in the job directory, visible to every process of the job."""

    def __init__(self, context: JobContext) -> None:
        self._marker = context.job_dir / f"{PREEMPT_MARKER}-{context.attempt}"
        self._requested_at: float | None = None

    @property
    def marker(self) -> Path:
        return self._marker

    def install(self) -> Preemption:
        """Call once in the driver, before starting work."""
        self._marker.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.request()

    def request(self) -> None:
        self._requested_at = time.monotonic()
        self._marker.parent.mkdir(parents=True, exist_ok=True)
        self._marker.touch()

    def requested(self) -> bool:
        """Cheap enough to call every training step (one stat)."""
        return self._requested_at is not None or self._marker.exists()
