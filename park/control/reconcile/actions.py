"""The actions a reconciler can plan; controllers carry them out in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from park.control.store.interface import EventType
from park.substrates.interface import HeadConfig, JobSubmission

FINALIZER = "park.dev/cleanup"


@dataclass(frozen=True)
class AddFinalizer:
    name: str = FINALIZER


@dataclass(frozen=True)
class RemoveFinalizer:
    name: str = FINALIZER


@dataclass(frozen=True)
class WriteStatus:
    status: Any


@dataclass(frozen=True)
class RecordEvent:
    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class SubmitJob:
    submission: JobSubmission


@dataclass(frozen=True)
class StopJob:
    submission_id: str


@dataclass(frozen=True)
class ArchiveLogs:
    submission_id: str
    attempt: int


@dataclass(frozen=True)
class EnsureCluster:
    config: HeadConfig


@dataclass(frozen=True)
class StopCluster:
    pass


@dataclass(frozen=True)
class SyncServe:
    """Re-declare the Serve applications of every admitted service on the object's cluster."""


Action = (
    AddFinalizer
    | RemoveFinalizer
    | WriteStatus
    | RecordEvent
    | SubmitJob
    | StopJob
    | ArchiveLogs
    | EnsureCluster
    | StopCluster
    | SyncServe
)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    requeue_after: float | None = None
