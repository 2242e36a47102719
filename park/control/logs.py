"""Job logs: live from Ray while an attempt runs, archived under the state directory once it ends.

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
from park.substrates.interface import Substrate

FOLLOW_INTERVAL_SECONDS = 0.5


class LogArchive:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, uid: str, attempt: int) -> Path:
        return self._root / uid / f"attempt-{attempt}.log"

    def save(self, uid: str, attempt: int, text: str) -> None:
        path = self._path(uid, attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)

    def read(self, uid: str, attempt: int) -> str | None:
        path = self._path(uid, attempt)
        return path.read_text(encoding="utf-8") if path.exists() else None


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
    """Embedded mode: the archive first (Ray heads forget jobs when they restart), then Ray's Jobs API."""

    def __init__(self, *, store: Store, substrate: Substrate, archive: LogArchive) -> None:
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
