"""Test doubles shared by unit and integration tests."""

from __future__ import annotations

from typing import Any

from park.substrates.interface import (
    ClusterHandle,
    HeadConfig,
    JobInfo,
    JobSubmission,
    ServeApplicationState,
    ServeDeclaration,
)


class NoClusters:
    """A substrate with no running cluster: for tests of the API and console, which never need Ray."""

    def ensure_cluster(self, key: str, config: HeadConfig) -> ClusterHandle:
        raise AssertionError("not used")

    def get_cluster(self, key: str) -> ClusterHandle | None:
        return None

    def stop_cluster(self, key: str) -> None: ...

    def cluster_resources(self, handle: ClusterHandle) -> dict[str, float]:
        return {}

    def submit_job(self, handle: ClusterHandle, submission: JobSubmission) -> bool:
        raise AssertionError("not used")

    def get_job(self, handle: ClusterHandle, submission_id: str) -> JobInfo | None:
        return None

    def job_logs(self, handle: ClusterHandle, submission_id: str) -> str:
        return ""

    def stop_job(self, handle: ClusterHandle, submission_id: str) -> bool:
        return False

    def deploy_applications(self, handle: ClusterHandle, declaration: ServeDeclaration) -> None:
        raise AssertionError("not used")

    def serve_applications(self, handle: ClusterHandle) -> dict[str, ServeApplicationState]:
        return {}

    def check_applications(self, applications: list[dict[str, Any]]) -> None: ...
