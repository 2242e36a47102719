"""Prometheus metrics the control plane exports (served by the API at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RECONCILE_TOTAL = Counter("park_reconcile_total", "Reconcile passes by kind and result", ["kind", "result"])
RECONCILE_SECONDS = Histogram("park_reconcile_seconds", "Time spent in one reconcile pass", ["kind"])
JOB_SUBMISSIONS = Counter("park_job_submissions_total", "Ray job submissions made by the job controller")
