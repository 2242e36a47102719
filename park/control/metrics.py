"""Prometheus metrics the control plane exports (served by the API at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILE_TOTAL = Counter("park_reconcile_total", "Reconcile passes by kind and result", ["kind", "result"])
RECONCILE_SECONDS = Histogram("park_reconcile_seconds", "Time spent in one reconcile pass", ["kind"])
JOB_SUBMISSIONS = Counter("park_job_submissions_total", "Ray job submissions made by the job controller")
ADMISSION_WAIT_SECONDS = Histogram(
    "park_admission_wait_seconds",
    "Time from a job's creation to its admission",
    ["queue"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400),
)
PREEMPTIONS = Counter("park_preemptions_total", "Workloads preempted by the scheduler", ["queue"])
QUEUE_USAGE = Gauge("park_queue_usage", "Resources admitted workloads hold, per queue", ["queue", "resource"])
PENDING_WORKLOADS = Gauge("park_queue_pending", "Workloads waiting for admission, per queue", ["queue"])
