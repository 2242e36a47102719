"""What the control plane needs from a compute substrate, in plain data types.

Calls may block (starting a Ray head takes seconds); controllers run them in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from park.core.meta import Condition
from park.core.resources import ParkCluster, ParkClusterSpec, ParkService

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


ClusterReadiness = Literal["Starting", "Ready", "Failed"]


@dataclass(frozen=True)
class ClusterDeclaration:
    """The Ray cluster one ParkCluster should run; each substrate builds, and compares, its own part."""

    owner: ParkCluster
    """The ParkCluster: its shape (head, worker groups, pods) and the flavor it was admitted on, which a
    substrate running a cluster of pods builds from (KubeRay's RayCluster, which it owns)."""
    total: HeadConfig
    """The cluster's total resources, which a substrate running one local head makes it advertise."""


@dataclass(frozen=True)
class ClusterObservation:
    """What a substrate sees of the Ray cluster it runs for one ParkCluster (planned on in
    park.control.reconcile.cluster the same way on every substrate)."""

    handle: ClusterHandle | None
    """How to reach it; None when none of this ParkCluster's runs (never started, stopped, died)."""
    resources: dict[str, float]
    """What it holds, in Ray's names (`CPU`, `GPU`, `memory`, custom): `park get clusters` shows them."""
    current: bool = True
    """Made from the declaration it was observed against (the same head config, the same spec hash)."""
    readiness: ClusterReadiness = "Ready"
    """With no handle only `Failed` counts: the substrate cannot bring one up (something in the way)."""
    message: str = ""
    """The substrate's word: progress while starting ("1/2 workers ready"), the reason when failed."""
    conditions: tuple[Condition, ...] = ()
    """The substrate's own conditions (KubeRay's), copied onto the ParkCluster as they are."""
    restarts_on_change: bool = True
    """A changed spec restarts what runs (one local head) rather than changing it in place (KubeRay
    adds and removes workers)."""


class ClusterRunner(Protocol):
    """What a ParkCluster's lifecycle needs of a substrate: the local substrate runs one Ray head per
    cluster, KubeRay (park.substrates.kuberay_clusters) a RayCluster."""

    def observe_cluster(self, key: str, declaration: ClusterDeclaration) -> ClusterObservation: ...

    def declare_cluster(self, key: str, declaration: ClusterDeclaration) -> None:
        """Bring up the declared cluster, or change (or replace) the one running to match it."""
        ...

    def stop_cluster(self, key: str) -> None: ...


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


class Substrate(ClusterSubstrate, ClusterRunner, JobSubstrate, ServeSubstrate, Protocol):
    """Runs clusters and the jobs on them: the local Ray substrate here, KubeRay in the operator."""
