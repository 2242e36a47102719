"""Test doubles shared by unit and integration tests."""

from __future__ import annotations

import copy
from typing import Any

from kubernetes.client.exceptions import ApiException

from park.substrates.interface import (
    ClusterDeclaration,
    ClusterHandle,
    ClusterObservation,
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

    def observe_cluster(self, key: str, declaration: ClusterDeclaration) -> ClusterObservation:
        return ClusterObservation(handle=None, resources={})

    def declare_cluster(self, key: str, declaration: ClusterDeclaration) -> None:
        raise AssertionError("not used")

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


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class FakeKubeRay:
    """KubeRayObjects with the API server's manners: resourceVersions, 409 on stale patches and re-create."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.writes = 0
        self.conflicts_to_inject = 0
        self._rv = 0

    def _bump(self, body: dict[str, Any]) -> dict[str, Any]:
        self._rv += 1
        self.writes += 1
        body["metadata"]["resourceVersion"] = str(self._rv)
        return copy.deepcopy(body)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        key = (body["kind"], body["metadata"]["namespace"], body["metadata"]["name"])
        if key in self.objects:
            return copy.deepcopy(self.objects[key]), False
        self.objects[key] = copy.deepcopy(body)
        return self._bump(self.objects[key]), True

    def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        current = self.objects[(kind, namespace, name)]
        wanted = patch.get("metadata", {}).get("resourceVersion")
        if self.conflicts_to_inject:
            self.conflicts_to_inject -= 1
            self._bump(current)  # someone else wrote meanwhile
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        merge(current, {k: v for k, v in patch.items() if k != "metadata"})
        merge(
            current["metadata"],
            {k: v for k, v in patch.get("metadata", {}).items() if k != "resourceVersion"},
        )
        return self._bump(current)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.objects.pop((kind, namespace, name), None)

    def set_status(self, kind: str, name: str, status: dict[str, Any]) -> None:
        self.objects[(kind, "ns", name)]["status"] = status
