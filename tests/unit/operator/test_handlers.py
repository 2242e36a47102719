"""The kopf registry: every Park kind converges on create/update/resume, on any watch event (status
changes such as the scheduler's admission included) and on its KubeRay child's events."""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from typer.testing import CliRunner

from park.cli.main import app
from park.core.errors import InvalidError
from park.operator.handlers import MODEL_POLL_SECONDS, build_registry


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.fail = fail

    def reconcile(self, kind: str, namespace: str, name: str) -> None:
        self.calls.append((kind, namespace, name))
        if self.fail:
            raise RuntimeError("API server unavailable")


def handlers(registry: Any, part: str) -> dict[str, Any]:
    return {str(h.id): h for h in getattr(registry, part).get_all_handlers()}


def test_each_kind_converges_on_changes_events_and_a_timer() -> None:
    registry = build_registry(Recorder())  # type: ignore[arg-type]
    changing = handlers(registry, "_changing")
    assert "create-parkjobs" not in changing, "ParkJobs are the job controller's (runner.py), not kopf's"
    for plural in ("parkclusters", "parkservices"):
        assert {f"create-{plural}", f"update-{plural}", f"resume-{plural}"} <= set(changing)
        assert f"resync-{plural}" in handlers(registry, "_spawning")
    assert not [h for h in changing.values() if h.reason is not None and "delete" in str(h.reason)], (
        "no deletion handlers: kopf would add a finalizer, and owner references already cascade"
    )


def test_status_events_reconcile_the_object_and_child_events_its_owner() -> None:
    recorder = Recorder()
    watching = handlers(build_registry(recorder), "_watching")  # type: ignore[arg-type]
    watching["event-parkservices"].fn(name="chat", namespace="ns", type="MODIFIED")
    watching["event-parkservices"].fn(name="gone", namespace="ns", type="DELETED")
    mirror = watching["mirror-rayservices"]
    assert mirror.labels == {
        "app.kubernetes.io/managed-by": "park-operator",
        "park.dev/owner-kind": "ParkService",
    }
    mirror.fn(labels={"park.dev/owner-name": "chat"}, namespace="ns")
    mirror.fn(labels={}, namespace="ns")
    assert recorder.calls == [("ParkService", "ns", "chat"), ("ParkService", "ns", "chat")]


def test_a_failing_event_handler_retries_then_logs_instead_of_raising() -> None:
    """kopf never retries event handlers: they retry themselves, then leave it to the resync timer."""
    recorder = Recorder(fail=True)
    watching = handlers(build_registry(recorder, retry_delays=(0.0, 0.0)), "_watching")  # type: ignore[arg-type]
    watching["event-parkclusters"].fn(name="c", namespace="ns", type="ADDED")
    watching["mirror-rayclusters"].fn(labels={"park.dev/owner-name": "c"}, namespace="ns")
    assert recorder.calls == [("ParkCluster", "ns", "c")] * 6


def test_an_event_handler_stops_retrying_once_the_reconcile_succeeds() -> None:
    class FailsOnce(Recorder):
        def reconcile(self, kind: str, namespace: str, name: str) -> None:
            self.fail = not self.calls
            super().reconcile(kind, namespace, name)

    recorder = FailsOnce()
    watching = handlers(build_registry(recorder, retry_delays=(0.0, 0.0)), "_watching")  # type: ignore[arg-type]
    watching["event-parkservices"].fn(name="chat", namespace="ns", type="MODIFIED")
    assert recorder.calls == [("ParkService", "ns", "chat")] * 2


def test_the_resync_timer_is_a_slow_safety_net() -> None:
    spawning = handlers(build_registry(Recorder()), "_spawning")  # type: ignore[arg-type]
    assert spawning["resync-parkclusters"].interval == 300
    quick = handlers(build_registry(Recorder(), resync_seconds=20), "_spawning")  # type: ignore[arg-type]
    assert quick["resync-parkclusters"].interval == 20


def test_park_operator_run_is_a_command() -> None:
    result = CliRunner().invoke(app, ["operator", "run", "--help"])
    assert result.exit_code == 0
    for option in ("--kubeconfig", "--namespace", "--peering"):
        assert option in result.output


def test_an_object_park_cannot_read_is_refused_once_not_retried() -> None:
    """Retrying cannot help until the object changes, and a change calls the handlers again."""

    class Unreadable(Recorder):
        def reconcile(self, kind: str, namespace: str, name: str) -> None:
            super().reconcile(kind, namespace, name)
            raise InvalidError(f"{kind} {namespace}/{name} cannot be read: spec.head.resources.cpu: -4")

    recorder = Unreadable()
    registry = build_registry(recorder, retry_delays=(0.0, 0.0))  # type: ignore[arg-type]
    handlers(registry, "_watching")["event-parkclusters"].fn(name="bad", namespace="ns", type="MODIFIED")
    handlers(registry, "_spawning")["resync-parkclusters"].fn(name="bad", namespace="ns")
    assert recorder.calls == [("ParkCluster", "ns", "bad")] * 2
    with pytest.raises(kopf.PermanentError, match=r"head\.resources\.cpu"):
        handlers(registry, "_changing")["update-parkclusters"].fn(name="bad", namespace="ns")


def test_a_service_waiting_for_a_jobs_checkpoint_is_looked_at_again_soon() -> None:
    """ParkJobs are not kopf's, so no event says a checkpoint appeared: a short timer runs while it waits."""
    recorder = Recorder()
    timer = handlers(build_registry(recorder), "_spawning")["models-parkservices"]  # type: ignore[arg-type]
    apps = {"applications": [{"import_path": "m:app", "args": {"model": "job:charlm"}}]}
    assert timer.interval == MODEL_POLL_SECONDS < 300
    assert timer.when is not None
    assert timer.when(spec=apps, status={"phase": "Pending"})
    assert not timer.when(spec=apps, status={"phase": "Running"})
    assert not timer.when(spec={"applications": [{"import_path": "m:app"}]}, status={"phase": "Pending"})
    timer.fn(name="chat", namespace="ns")
    assert recorder.calls == [("ParkService", "ns", "chat")]
