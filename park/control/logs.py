"""Job logs: live from Ray while an attempt runs, archived (a directory or an `s3://` URI) once it ends.

Archiving matters because a Ray head forgets its jobs when it restarts; `park logs` must still show
what a finished job printed after the platform (or its Ray head) was restarted.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path

from park.control.reconcile.cluster import cluster_key
from park.control.store import Store
from park.core.errors import NotFoundError, ParkError
from park.core.resources import TERMINAL_JOB_PHASES, ParkJob
from park.substrates.interface import JobRunner
from park.workloads import artifacts

FOLLOW_INTERVAL_SECONDS = 0.5


class LogArchive:
    """One file per attempt under `root`: the state directory on park up, the object store on Kubernetes."""

    def __init__(self, root: Path | str) -> None:
        self._root = str(root)

    def _location(self, uid: str, attempt: int) -> str:
        return artifacts.join(self._root, uid, f"attempt-{attempt}.log")

    def save(self, uid: str, attempt: int, text: str) -> None:
        artifacts.write_bytes(self._location(uid, attempt), text.encode("utf-8"))

    def read(self, uid: str, attempt: int) -> str | None:
        data = artifacts.read_bytes(self._location(uid, attempt))
        return None if data is None else data.decode("utf-8", errors="replace")


class FollowedLogs(ABC):
    """`read` and `follow` a job's output across attempts; subclasses say where an attempt's text is."""

    def __init__(self, *, store: Store) -> None:
        self._store = store

    @abstractmethod
    def _read_sync(self, job: ParkJob) -> str:
        """Everything the job's current attempt printed so far ('' when there is nothing yet)."""

    def _get_job(self, namespace: str, name: str) -> ParkJob:
        job = self._store.get("ParkJob", namespace, name)
        assert isinstance(job, ParkJob)
        return job

    async def read(self, namespace: str, name: str) -> str:
        """Everything the current attempt printed so far ('' before it started)."""
        return await asyncio.to_thread(self._read_sync, self._get_job(namespace, name))

    async def follow(self, namespace: str, name: str) -> AsyncIterator[str]:
        """Yield output as it appears, across retries, until the job finishes."""
        sent, attempt = 0, None
        while True:
            job = self._get_job(namespace, name)
            if attempt != job.status.attempt:
                if attempt is not None:
                    yield f"--- attempt {job.status.attempt} ---\n"
                sent, attempt = 0, job.status.attempt
            try:
                text = await asyncio.to_thread(self._read_sync, job)
            except ParkError:
                text = ""
            if len(text) > sent:
                yield text[sent:]
                sent = len(text)
            if job.status.phase in TERMINAL_JOB_PHASES:
                return  # the final output was archived before the phase turned terminal
            await asyncio.sleep(FOLLOW_INTERVAL_SECONDS)


class JobLogs(FollowedLogs):
    """The archive first (Ray heads forget jobs when they restart), then the substrate's live logs."""

    def __init__(self, *, store: Store, substrate: JobRunner, archive: LogArchive) -> None:
        super().__init__(store=store)
        self._substrate = substrate
        self._archive = archive

    def _read_sync(self, job: ParkJob) -> str:
        sid, uid = job.status.submission_id, job.metadata.uid or ""
        if sid is None:
            return ""
        archived = self._archive.read(uid, job.status.attempt)
        if archived is not None:
            return archived
        handle = self._substrate.get_cluster(cluster_key(job.metadata.namespace, job.spec.cluster))
        if handle is None:
            return ""
        try:
            return self._substrate.job_logs(handle, sid)
        except NotFoundError:
            return ""
