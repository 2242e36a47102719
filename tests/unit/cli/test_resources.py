"""`park get -w` prints a line per visible change, not one per store write; suspend says what it did."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from park.cli import resources
from park.core.meta import ObjectMeta
from park.core.resources import ParkJob, ParkJobSpec


def change(name: str, phase: str, resource_version: int) -> dict[str, Any]:
    job = ParkJob(
        metadata=ObjectMeta(name=name, namespace="default", resource_version=str(resource_version)),
        spec=ParkJobSpec(entrypoint="python x.py"),
    )
    job = job.model_copy(update={"status": job.status.model_copy(update={"phase": phase})})
    return {"type": "MODIFIED", "object": job.to_dict()}


class FakeClient:
    def __init__(self, changes: list[dict[str, Any]]) -> None:
        self._changes = changes

    def watch(self, **_: Any) -> Iterator[dict[str, Any]]:
        yield from self._changes


def test_only_visible_changes_are_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(width=120, record=True)
    monkeypatch.setattr(resources, "out", console)
    changes = [
        change("a", "Queued", 1),
        change("a", "Queued", 2),  # e.g. an admission write: nothing a reader sees moved
        change("other", "Running", 3),
        change("a", "Running", 4),
    ]
    resources._watch_rows(
        FakeClient(changes),  # type: ignore[arg-type]
        "ParkJob",
        "default",
        "a",
        show_namespace=False,
        header=True,
    )
    printed = [line for line in console.export_text().splitlines() if line.strip()]
    assert [line.split()[:3] for line in printed] == [
        ["NAME", "QUEUE", "STATUS"],
        ["a", "default", "Queued"],
        ["a", "default", "Running"],
    ]


class FakeJobs:
    def __init__(self, phase: str) -> None:
        self.phase = phase

    def __enter__(self) -> FakeJobs:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def set_suspend(self, namespace: str, name: str, *, suspend: bool) -> ParkJob:
        return ParkJob.model_validate(change(name, self.phase, 1)["object"])


@pytest.mark.parametrize(("phase", "said"), [("Running", "suspended"), ("Succeeded", "has already finished")])
def test_suspending_says_what_happens_to_the_job(
    phase: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that already finished is not "preempted": the user is told there is nothing to suspend."""
    console = Console(width=200, record=True)
    monkeypatch.setattr(resources, "out", console)
    ctx = SimpleNamespace(obj=SimpleNamespace(client=lambda: FakeJobs(phase)))
    resources.suspend(ctx, "job", "counter")  # type: ignore[arg-type]
    assert console.export_text().startswith(f"job/counter {said}")
