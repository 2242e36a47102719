"""What the control plane needs from a compute substrate, in plain data types.

Calls may block (starting a Ray head takes seconds); controllers run them in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from park.core.resources import ParkClusterSpec, ParkService

RayJobStatus = Literal["PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"]
TERMINAL_RAY_STATUSES: frozenset[str] = frozenset({"STOPPED", "SUCCEEDED", "FAILED"})


@dataclass(frozen=True)
class HeadConfig:
    """Resources the head node advertises to Ray's scheduler."""

    num_cpus: float
    num_gpus: int = 0
    memory_bytes: int | None = None
    custom_resources: dict[str, float] = field(default_factory=dict)
    object_store_bytes: int | None = None


@dataclass(frozen=True)
class ClusterHandle:
    """How to reach a running Ray cluster."""

    key: str
    dashboard_url: str
    gcs_address: str
    token: str
    pid: int
    config: HeadConfig
    serve_url: str = ""
    """Where the cluster's Ray Serve HTTP proxy listens (fixed per head); empty for heads without one."""


@dataclass(frozen=True)
class JobSubmission:
    submission_id: str
    entrypoint: str
    runtime_env: dict[str, Any] = field(default_factory=dict)
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    entrypoint_memory: int | None = None
    entrypoint_resources: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    cluster: ParkClusterSpec | None = None
    """The Ray cluster the attempt needs, where the substrate brings one per job (KubeRay's RayJob);
    a shared head (the local substrate) runs the job on the cluster it has."""


@dataclass(frozen=True)
class JobInfo:
    submission_id: str
    status: RayJobStatus
    message: str = ""
    start_time_ms: int | None = None
    end_time_ms: int | None = None


class ClusterSubstrate(Protocol):
    def ensure_cluster(self, key: str, config: HeadConfig) -> ClusterHandle:
        """Return a live cluster for `key`: adopt the one already running, or start one."""
        ...

    def get_cluster(self, key: str) -> ClusterHandle | None:
        """The live cluster for `key`, or None when none runs (never started, stopped, or died)."""
        ...

    def stop_cluster(self, key: str) -> None: ...

    def cluster_resources(self, handle: ClusterHandle) -> dict[str, float]: ...


class JobSubstrate(Protocol):
    def submit_job(self, handle: ClusterHandle, submission: JobSubmission) -> bool:
        """Submit; returns False (and does nothing) when that submission id already exists."""
        ...

    def get_job(self, handle: ClusterHandle, submission_id: str) -> JobInfo | None:
        """None when the cluster does not know the submission id."""
        ...

    def job_logs(self, handle: ClusterHandle, submission_id: str) -> str: ...

    def stop_job(self, handle: ClusterHandle, submission_id: str) -> bool: ...


class JobRunner(JobSubstrate, Protocol):
    """What a job's lifecycle needs of a substrate: the cluster a job runs on, and Ray's job calls.

    The local substrate runs jobs on a shared head; KubeRay (park.substrates.kuberay_jobs) brings a
    cluster with each attempt's RayJob.
    """

    def get_cluster(self, key: str) -> ClusterHandle | None: ...


@dataclass(frozen=True)
class ServeDeploymentState:
    """One Ray Serve deployment as its controller reports it."""

    name: str
    status: str  # HEALTHY, UPDATING, UPSCALING, DOWNSCALING, UNHEALTHY, DEPLOY_FAILED
    message: str
    target_replicas: int | None
    """None where only the deployment's status is known (KubeRay's RayService status has no replicas)."""
    running_replicas: int | None
    replica_resources: dict[str, float]  # what each replica asks of Ray: CPU, GPU, memory, custom
    replica_states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ServeApplicationState:
    name: str
    status: str  # NOT_STARTED, DEPLOYING, RUNNING, UNHEALTHY, DEPLOY_FAILED, DELETING
    message: str
    route_prefix: str | None
    deployments: dict[str, ServeDeploymentState] = field(default_factory=dict)


@dataclass(frozen=True)
class ServeDeclaration:
    """Every Serve application one Ray cluster should run (Serve's config schema, named and routed)."""

    applications: list[dict[str, Any]]
    cluster: ParkClusterSpec | None = None
    """The Ray cluster to bring, where the substrate brings one per service (KubeRay's RayService); a
    shared head (the local substrate) serves on the cluster it has."""
    owner: ParkService | None = None
    """The one service whose applications these are, where the cluster is its own (it owns the RayService)."""


class ServeSubstrate(Protocol):
    def deploy_applications(self, handle: ClusterHandle, declaration: ServeDeclaration) -> None:
        """Declare the cluster's whole set of Serve applications; absent ones go."""
        ...

    def serve_applications(self, handle: ClusterHandle) -> dict[str, ServeApplicationState]:
        """The applications Serve runs on the cluster now, by name (empty when Serve is not started)."""
        ...

    def check_applications(self, applications: list[dict[str, Any]]) -> None:
        """Raise InvalidError (one line) when Serve would refuse these entries."""
        ...


class ServeRunner(ServeSubstrate, Protocol):
    """What a service's lifecycle needs of a substrate: the cluster its applications run on, and Serve.

    The local substrate serves every service of a ParkCluster on that cluster's one head; KubeRay
    (park.substrates.kuberay_services) brings a RayService, and so a Ray cluster, per service.
    """

    def get_cluster(self, key: str) -> ClusterHandle | None: ...


class Substrate(ClusterSubstrate, JobSubstrate, ServeSubstrate, Protocol):
    """Runs clusters and the jobs on them: the local Ray substrate here, KubeRay in the operator."""
