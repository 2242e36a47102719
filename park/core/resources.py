"""The Park resource kinds under park.dev/v1alpha1: one spec/status pair per kind.

The same YAML is accepted by `park apply` (embedded) and `kubectl apply` (operator); the CRDs are
generated from these models, so this module is the one source of truth for what is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from park.core.meta import (
    DNS_LABEL_PATTERN,
    BaseStatus,
    DnsLabel,
    ObjectMeta,
    ParkModel,
    check_dns_label,
    kubernetes_rules,
)
from park.core.quantities import QUANTITY_PATTERN, normalize_quantity, parse_quantity

# Kubernetes spells quantities as int-or-string ("500m", "1Gi", 2); Park also takes 0.5 as a number.
# `pattern` holds for the string form and `minimum` for the integer form (each applies to its own type).
Quantity = Annotated[
    str,
    BeforeValidator(normalize_quantity),
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "minimum": 0,
        }
    ),
]
Amounts = dict[str, Annotated[float, Field(ge=0)]]
"""Custom resources by name (`custom: {"ray.io/tpu": 4}`): amounts are never negative."""


class ComputeResources(ParkModel):
    """What a node, a worker group, a job's driver or a queue's quota holds."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: int | None = Field(None, ge=0)  # None: not named (a quota leaves gpus unbounded); 0 is none
    accelerator: str | None = None
    custom: Amounts = Field(default_factory=dict)

    def cpu_cores(self) -> float:
        return parse_quantity(self.cpu) if self.cpu is not None else 0.0

    def gpus(self) -> int:
        return self.gpu or 0

    def memory_bytes(self) -> int:
        return int(parse_quantity(self.memory)) if self.memory is not None else 0


# ---------------------------------------------------------------- ParkCluster


class HeadSpec(ParkModel):
    resources: ComputeResources = Field(default_factory=lambda: ComputeResources(cpu="1"))
    ray_start_params: dict[str, str] = Field(default_factory=dict)


class WorkerGroupSpec(ParkModel):
    model_config = ConfigDict(
        json_schema_extra=kubernetes_rules(
            (
                "!has(self.maxReplicas) || "
                "self.maxReplicas >= (has(self.minReplicas) ? self.minReplicas : 0)",
                "maxReplicas must be >= minReplicas",
            )
        )
    )

    name: DnsLabel
    replicas: int = Field(1, ge=0)
    min_replicas: int = Field(0, ge=0)
    max_replicas: int | None = Field(None, ge=0)
    resources: ComputeResources = Field(default_factory=lambda: ComputeResources(cpu="1"))

    @model_validator(mode="after")
    def _bounds(self) -> WorkerGroupSpec:
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be >= minReplicas")
        return self


class Toleration(ParkModel):
    """A Kubernetes toleration (the same fields), so Ray pods may run on tainted nodes."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class VolumeMount(ParkModel):
    name: DnsLabel
    mount_path: str = Field(min_length=1, pattern=r"^/")
    read_only: bool | None = None
    sub_path: str | None = None


class PodTemplate(ParkModel):
    """How a cluster's Ray pods are shaped on Kubernetes (the embedded substrate runs no pods).

    Set by a cluster admin: on the ParkCluster, or for every cluster through the operator's defaults.
    A field set here wins over the default; lists (tolerations, volumes, mounts) are added to it.
    `volumes` are Kubernetes Volume objects, passed to the pods as written.
    """

    image: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32)
    volumes: list[dict[str, Any]] = Field(default_factory=list, max_length=32)
    volume_mounts: list[VolumeMount] = Field(default_factory=list, max_length=32)
    env: dict[str, str] = Field(default_factory=dict)
    service_account_name: DnsLabel | None = None
    cpu_request_ratio: float | None = Field(
        None,
        gt=0,
        le=1,
        description="CPU requests as this fraction of the limits (overcommit); Ray still counts the limits. "
        "Memory and GPUs are never overcommitted",
    )

    def merged_over(self, default: PodTemplate) -> PodTemplate:
        """This template on top of `default`: scalars and map entries from here win, lists add up."""
        return PodTemplate(
            image=self.image or default.image,
            image_pull_policy=self.image_pull_policy or default.image_pull_policy,
            node_selector={**default.node_selector, **self.node_selector},
            tolerations=[*default.tolerations, *self.tolerations],
            volumes=[*default.volumes, *self.volumes],
            volume_mounts=[*default.volume_mounts, *self.volume_mounts],
            env={**default.env, **self.env},
            service_account_name=self.service_account_name or default.service_account_name,
            cpu_request_ratio=self.cpu_request_ratio or default.cpu_request_ratio,
        )


class ParkClusterSpec(ParkModel):
    head: HeadSpec = Field(default_factory=HeadSpec)
    queue: DnsLabel | None = Field(
        None,
        description=(
            "The ParkQueue charged for this cluster's head and workers; it starts once admitted. "
            "Without one the cluster is platform capacity, charged to no queue"
        ),
    )
    pods: PodTemplate = Field(default_factory=PodTemplate)
    worker_groups: list[WorkerGroupSpec] = Field(
        default_factory=list,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _unique_groups(self) -> ParkClusterSpec:
        names = [group.name for group in self.worker_groups]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"worker group names must be unique: {', '.join(duplicates)}")
        return self

    def total_resources(self) -> ComputeResources:
        """Everything the cluster declares, head and all worker replicas together."""
        parts = [(1, self.head.resources)] + [(g.replicas, g.resources) for g in self.worker_groups]
        custom: dict[str, float] = {}
        for count, res in parts:
            for key, value in res.custom.items():
                custom[key] = custom.get(key, 0.0) + count * value
        return ComputeResources(
            cpu=format(sum(n * r.cpu_cores() for n, r in parts), "g"),
            memory=str(sum(n * r.memory_bytes() for n, r in parts)),
            gpu=sum(n * r.gpus() for n, r in parts),
            custom=custom,
        )


ClusterPhase = Literal["Pending", "Queued", "Starting", "Ready", "Failed", "Terminating"]


class ParkClusterStatus(BaseStatus):
    phase: ClusterPhase | None = None
    dashboard_url: str | None = None
    address: str | None = None
    resources: dict[str, float] = Field(default_factory=dict)
    started_at: datetime | None = None
    restarts: int = 0
    admission: Admission | None = None
    """Written by the scheduler for a cluster that names a queue: it runs only once admitted."""


# ---------------------------------------------------------------- ParkJob


class DriverResources(ParkModel):
    """Resources reserved for the job's entrypoint (the Ray driver process)."""

    cpu: float | None = Field(None, ge=0)
    gpu: float | None = Field(None, ge=0)
    memory: Quantity | None = None
    custom: Amounts = Field(default_factory=dict)


class GangResources(ParkModel):
    """What a job holds while it runs, for admission: `replicas` copies of `perReplica`, all or nothing.

    Without it a job counts as its driver's resources (one CPU when the driver asks for none).
    """

    replicas: int = Field(1, ge=1, le=10_000)
    per_replica: ComputeResources = Field(default_factory=lambda: ComputeResources(cpu="1"))


WorkloadName = Literal["data", "train", "eval"]


class WorkloadRef(ParkModel):
    """A built-in Ray workload run by name: `python -m park.workloads.<name>` with `params`."""

    name: WorkloadName
    params: dict[str, Any] = Field(default_factory=dict)


class CheckpointPolicy(ParkModel):
    """Where a job's checkpoints live and how long a preempted job has to write one."""

    storage: str | None = Field(
        None, description="Directory or URI for checkpoints; default: a directory the platform assigns"
    )
    preemption_grace_seconds: int = Field(30, ge=1, le=3600)


class ParkJobSpec(ParkModel):
    model_config = ConfigDict(
        json_schema_extra=kubernetes_rules(
            (
                "has(self.entrypoint) != has(self.workload)",
                "give exactly one of entrypoint (a command) or workload (a built-in by name)",
            ),
            (
                "!has(self.placement) || self.placement != 'federated' || "
                "(has(self.workload) && self.workload.name == 'data')",
                "placement federated is for the data workload (workload: {name: data})",
            ),
        )
    )

    entrypoint: str | None = Field(None, min_length=1)
    workload: WorkloadRef | None = None
    checkpoint: CheckpointPolicy = Field(default_factory=CheckpointPolicy)
    cluster: DnsLabel = "default"
    queue: DnsLabel = "default"
    priority: int = 0
    priority_class_name: DnsLabel | None = None
    resources: GangResources | None = None
    runtime_env: dict[str, Any] = Field(default_factory=dict)
    entrypoint_resources: DriverResources = Field(default_factory=DriverResources)
    retries: int = Field(0, ge=0, le=100)
    suspend: bool = False
    placement: Literal["cluster", "federated"] = Field(
        "cluster",
        description="federated: the data workload's text embeddings run on community nodes, verified",
    )

    @model_validator(mode="after")
    def _one_program(self) -> ParkJobSpec:
        if (self.entrypoint is None) == (self.workload is None):
            raise ValueError("give exactly one of entrypoint (a command) or workload (a built-in by name)")
        if self.placement == "federated" and (self.workload is None or self.workload.name != "data"):
            raise ValueError("placement federated is for the data workload (workload: {name: data})")
        return self


JobPhase = Literal[
    "Pending",
    "Queued",
    "Suspended",
    "Submitting",
    "Starting",
    "Running",
    "Preempting",
    "Preempted",
    "Succeeded",
    "Failed",
    "Stopped",
]
TERMINAL_JOB_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed", "Stopped"})


class ParkJobStatus(BaseStatus):
    phase: JobPhase | None = None
    attempt: int = 0
    failed_attempts: int = 0
    submission_id: str | None = None
    ray_status: str | None = None
    submitted_at: datetime | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    checkpoint: str | None = None
    report: dict[str, Any] = Field(default_factory=dict)
    admission: Admission | None = None


class Admission(ParkModel):
    """Written by the scheduler: whether the job (or the cluster) holds quota now, and why (not)."""

    admitted: bool = False
    queue: str | None = None
    admitted_at: datetime | None = None
    position: int | None = None
    message: str = ""
    resources: dict[str, float] = Field(default_factory=dict)
    nominated: bool = False
    """It caused preemptions and goes first once its victims are gone."""
    flavor: str | None = None
    """The queue's resource flavor it was admitted on; on Kubernetes its pods go to that flavor's nodes."""
    node_selector: dict[str, str] | None = None
    """The flavor's nodeLabels when it was admitted: added to its pods' nodeSelector (None: no flavor)."""
    tolerations: list[Toleration] | None = None
    """The flavor's tolerations when it was admitted: added to its pods' tolerations (None: no flavor)."""


# ---------------------------------------------------------------- ParkService


# What the API server checks of the Serve entries: exactly what `ParkServiceSpec._serve_applications`
# checks (the rest is Serve's schema, checked before deploying). Deployment names are unique through the
# list's map keys; application names, which default to "app", through a CEL rule.
_DEFAULT_APP = "app"
_SERVE_DEPLOYMENTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "num_replicas": {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "minimum": 0,
                "pattern": "^auto$",
                "nullable": True,
            },
        },
        "x-kubernetes-preserve-unknown-fields": True,
    },
}


def _app_name(var: str) -> str:
    """CEL: an application's name, as Serve defaults it."""
    return f"(has({var}.name) ? {var}.name : '{_DEFAULT_APP}')"


_SERVE_APPLICATIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 64,
    "items": {
        "type": "object",
        "required": ["import_path"],
        "properties": {
            "import_path": {"type": "string", "minLength": 1},
            "name": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL_PATTERN},
            "route_prefix": {"type": "string", "pattern": "^/"},
            "deployments": _SERVE_DEPLOYMENTS_SCHEMA,
        },
        "x-kubernetes-preserve-unknown-fields": True,
    },
    **kubernetes_rules(
        (
            f"self.all(a, self.exists_one(b, {_app_name('b')} == {_app_name('a')}))",
            f"applications[].name must be unique (an application without a name is named '{_DEFAULT_APP}')",
        )
    ),
}


class ParkServiceSpec(ParkModel):
    """A set of Ray Serve applications; each entry follows Ray Serve's config-file schema (snake_case).

    Park checks what it relies on (an `import_path`, unique application and deployment names) and
    leaves the rest to Serve, whose complaints come back as the service's status message.
    """

    applications: Annotated[list[dict[str, Any]], WithJsonSchema(_SERVE_APPLICATIONS_SCHEMA)] = Field(
        min_length=1, max_length=64
    )
    cluster: DnsLabel = "default"
    queue: DnsLabel = "default"
    priority: int = 0
    priority_class_name: DnsLabel | None = None

    @model_validator(mode="after")
    def _serve_applications(self) -> ParkServiceSpec:
        names: set[str] = set()
        for index, app in enumerate(self.applications):
            where = f"applications[{index}]"
            if not isinstance(app.get("import_path"), str) or not app["import_path"]:
                raise ValueError(f"{where}.import_path is required (module.path:application_or_builder)")
            name = app.get("name", _DEFAULT_APP)
            if not isinstance(name, str):
                raise ValueError(f"{where}.name must be a string, got {name!r}")
            check_dns_label(name)
            if name in names:
                raise ValueError(f"{where}.name {name!r} is used twice")
            names.add(name)
            prefix = app.get("route_prefix", "/")
            if not isinstance(prefix, str) or not prefix.startswith("/"):
                raise ValueError(f"{where}.route_prefix must start with '/', got {prefix!r}")
            _check_deployments(where, app.get("deployments", []))
        return self


def _check_deployments(where: str, deployments: object) -> None:
    """What Park reads of an application's deployments: unique names and a sane `num_replicas`."""
    if not isinstance(deployments, list) or not all(
        isinstance(d, dict) and isinstance(d.get("name"), str) and d["name"] for d in deployments
    ):
        raise ValueError(f"{where}.deployments must be a list of objects with a name")
    if len({d["name"] for d in deployments}) != len(deployments):
        raise ValueError(f"{where}.deployments names a deployment twice")
    for index, deployment in enumerate(deployments):
        replicas = deployment.get("num_replicas")
        if replicas is None or replicas == "auto":
            continue
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ValueError(
                f"{where}.deployments[{index}].num_replicas must be an integer >= 0 or 'auto', "
                f"got {replicas!r}"
            )


ServicePhase = Literal["Pending", "Queued", "Deploying", "Running", "Unhealthy", "Failed", "Deleting"]


class ServiceDeployment(ParkModel):
    """One Serve deployment of the service: what Serve wants, runs, and what the scheduler granted."""

    application: str
    name: str
    status: str = "PENDING"
    target_replicas: int = 0
    running_replicas: int = 0
    replica_resources: dict[str, float] = Field(default_factory=dict)
    observed: bool = False
    """False while the numbers are Park's estimate from the spec (before Serve has reported)."""
    message: str = ""

    @property
    def key(self) -> str:
        return f"{self.application}/{self.name}"


class ServiceAdmission(ParkModel):
    """Written by the scheduler: replicas granted per `application/deployment`, at the service's priority."""

    queue: str | None = None
    replicas: dict[str, int] = Field(default_factory=dict)
    admitted_at: datetime | None = None
    message: str = ""
    nominated: bool = False
    flavor: str | None = None
    """The queue's resource flavor every replica runs on: the one its first replicas were admitted on."""
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None


class ParkServiceStatus(BaseStatus):
    phase: ServicePhase | None = None
    endpoints: list[str] = Field(default_factory=list)
    deployments: list[ServiceDeployment] = Field(default_factory=list)
    admission: ServiceAdmission | None = None


# ---------------------------------------------------------------- ParkQueue


class QueuePreemption(ParkModel):
    """Kueue's preemption policy: whom a pending workload of this queue may preempt, and when."""

    within_queue: Literal["Never", "LowerPriority", "LowerOrNewerEqualPriority"] = "Never"
    reclaim_within_cohort: Literal["Never", "LowerPriority", "Any"] = "Never"
    borrow_within_cohort: Literal["Never", "LowerPriority"] = "Never"
    max_priority_threshold: int | None = None


class QueueFlavor(ParkModel):
    """The queue's quota on one ParkResourceFlavor (a kind of node: a gpu type, a zone)."""

    name: DnsLabel = Field(description="A ParkResourceFlavor; workloads are offered flavors in list order")
    nominal_quota: ComputeResources = Field(default_factory=ComputeResources)
    borrowing_limit: ComputeResources | None = None
    lending_limit: ComputeResources | None = None


_PLAIN_OR_FLAVORS = (
    "a queue with flavors sets its quota per flavor: move nominalQuota, borrowingLimit and lendingLimit "
    "into spec.flavors[]"
)


class ParkQueueSpec(ParkModel):
    model_config = ConfigDict(
        json_schema_extra=kubernetes_rules(
            (
                "!has(self.flavors) || size(self.flavors) == 0 || "
                "(!has(self.borrowingLimit) && !has(self.lendingLimit) && (!has(self.nominalQuota) || "
                "(!has(self.nominalQuota.cpu) && !has(self.nominalQuota.memory) && "
                "!has(self.nominalQuota.gpu) && !has(self.nominalQuota.accelerator) && "
                "(!has(self.nominalQuota.custom) || size(self.nominalQuota.custom) == 0))))",
                _PLAIN_OR_FLAVORS,
            ),
        )
    )

    nominal_quota: ComputeResources = Field(default_factory=ComputeResources)
    cohort: DnsLabel | None = None
    borrowing_limit: ComputeResources | None = None
    lending_limit: ComputeResources | None = None
    fair_share_weight: float = Field(1.0, gt=0)
    queueing_strategy: Literal["StrictFIFO", "BestEffortFIFO"] = "BestEffortFIFO"
    preemption: QueuePreemption = Field(default_factory=QueuePreemption)
    flavors: list[QueueFlavor] = Field(
        default_factory=list,
        max_length=16,
        description="Quota per ParkResourceFlavor, instead of nominalQuota: each workload is admitted "
        "on the first flavor that fits it, and its pods are placed on that flavor's nodes",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _plain_or_flavors(self) -> ParkQueueSpec:
        if not self.flavors:
            return self
        plain = self.nominal_quota.model_dump(exclude_defaults=True)
        if plain or self.borrowing_limit is not None or self.lending_limit is not None:
            raise ValueError(_PLAIN_OR_FLAVORS)
        names = [flavor.name for flavor in self.flavors]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"flavors[{index}].name {name!r} is listed twice")
        return self


class FlavorUsageStatus(ParkModel):
    name: str
    used: dict[str, float] = Field(default_factory=dict)
    borrowed: dict[str, float] = Field(default_factory=dict)


class QueueUsageStatus(ParkModel):
    """What the queue's admitted work holds; on a queue with flavors, the totals and each flavor's."""

    used: dict[str, float] = Field(default_factory=dict)
    borrowed: dict[str, float] = Field(default_factory=dict)
    flavors: list[FlavorUsageStatus] = Field(default_factory=list)


QueuePhase = Literal["Active", "Inactive", "Terminating"]


class ParkQueueStatus(BaseStatus):
    """Written by the scheduler. Terminating: deleted while work it admitted still runs; it admits nothing
    new and goes away once that work is gone (the `park.dev/queue-in-use` finalizer). Inactive: a flavor
    it names does not exist; it admits nothing new until it does (the message names the field)."""

    phase: QueuePhase | None = None
    pending_jobs: int = 0
    admitted_jobs: int = 0
    usage: QueueUsageStatus = Field(default_factory=QueueUsageStatus)


# ---------------------------------------------------------------- FederatedNode


PeerId = Annotated[str, Field(pattern=r"^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$")]


class NodeCapabilities(ParkModel):
    """What a community node may be given: its owner's caps, bound into its join token."""

    gpus: int = Field(0, ge=0, le=64)
    gpu_memory_gib: float = Field(0, ge=0)
    cpus: float = Field(1, gt=0, le=1024)
    memory_gib: float = Field(1, gt=0)
    apps: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$")]] = Field(
        default_factory=list, max_length=32
    )

    def covers(self, other: NodeCapabilities) -> bool:
        """Whether everything `other` asks for fits inside these capabilities."""
        return (
            other.gpus <= self.gpus
            and other.gpu_memory_gib <= self.gpu_memory_gib
            and other.cpus <= self.cpus
            and other.memory_gib <= self.memory_gib
            and set(other.apps) <= set(self.apps)
        )


class FederatedNodeSpec(ParkModel):
    """Written by `park federation invite`; `revoked: true` drops the node from the mesh."""

    peer_id: PeerId
    capabilities: NodeCapabilities = Field(default_factory=NodeCapabilities)
    revoked: bool = False


class FederatedWorkCounts(ParkModel):
    leased: int = 0
    completed: int = 0
    expired: int = 0
    failed: int = 0


class FederatedNodeStatus(BaseStatus):
    """Mirrored by the gateway: phase Invited | Expired | Online | Paused | Offline | Revoked.

    Expired: invited, but the join token ran out before the node used it (invite it again).
    Paused: connected, but taking no work (its owner paused it, or it is outside its time windows).
    """

    address: str | None = None
    invite_expires_at: datetime | None = None  # the newest join token's; Expired once past, if never joined
    joined_at: datetime | None = None
    last_seen: datetime | None = None
    offered: NodeCapabilities | None = None
    current_work: list[str] = Field(default_factory=list)
    work: FederatedWorkCounts = Field(default_factory=FederatedWorkCounts)
    reputation: float = Field(0.0, ge=0, le=1)
    credits: float = 0.0


# ---------------------------------------------------------------- ParkPriorityClass


class ParkPriorityClassSpec(ParkModel):
    value: int = Field(ge=-1_000_000, le=1_000_000)
    description: str = ""


class ParkPriorityClassStatus(BaseStatus):
    pass


# ---------------------------------------------------------------- the envelope

SpecT = TypeVar("SpecT", bound=ParkModel)
StatusT = TypeVar("StatusT", bound=BaseStatus)


class Resource(ParkModel, Generic[SpecT, StatusT]):
    api_version: Literal["park.dev/v1alpha1"] = Field("park.dev/v1alpha1", alias="apiVersion")
    kind: str
    metadata: ObjectMeta
    spec: SpecT
    status: StatusT

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.metadata.namespace, self.metadata.name)


class ParkCluster(Resource[ParkClusterSpec, ParkClusterStatus]):
    kind: Literal["ParkCluster"] = "ParkCluster"
    spec: ParkClusterSpec = Field(default_factory=ParkClusterSpec)
    status: ParkClusterStatus = Field(default_factory=ParkClusterStatus)


class ParkJob(Resource[ParkJobSpec, ParkJobStatus]):
    kind: Literal["ParkJob"] = "ParkJob"
    status: ParkJobStatus = Field(default_factory=ParkJobStatus)


class ParkService(Resource[ParkServiceSpec, ParkServiceStatus]):
    kind: Literal["ParkService"] = "ParkService"
    status: ParkServiceStatus = Field(default_factory=ParkServiceStatus)


class ParkPriorityClass(Resource[ParkPriorityClassSpec, ParkPriorityClassStatus]):
    kind: Literal["ParkPriorityClass"] = "ParkPriorityClass"
    status: ParkPriorityClassStatus = Field(default_factory=ParkPriorityClassStatus)


class ParkQueue(Resource[ParkQueueSpec, ParkQueueStatus]):
    kind: Literal["ParkQueue"] = "ParkQueue"
    spec: ParkQueueSpec = Field(default_factory=ParkQueueSpec)
    status: ParkQueueStatus = Field(default_factory=ParkQueueStatus)


class FederatedNode(Resource[FederatedNodeSpec, FederatedNodeStatus]):
    kind: Literal["FederatedNode"] = "FederatedNode"
    status: FederatedNodeStatus = Field(default_factory=FederatedNodeStatus)


AnyResource = Resource[Any, Any]


@dataclass(frozen=True)
class ResourceKey:
    """(kind, namespace, name): how the store and the controllers name an object."""

    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"
