"""What an object costs in its queue: every Ray node Park runs for it (on Kubernetes, every pod).

One function, `cost_of`, answers for jobs, services and clusters, so admission, queue usage and the
cluster columns of `park get` count the same thing. The answer depends on where Ray runs (`Layout`):

- `OWN_CLUSTER` (KubeRay): every ParkJob attempt is a RayJob and every ParkService a RayService, each
  with a Ray cluster of its own shaped by the ParkCluster it names (that ParkCluster's own RayCluster is
  separate pods). A job costs its head, its workers (its gang, else the template's worker groups: as
  `kuberay_specs.job_cluster_spec` builds them) and KubeRay's submitter pod; a service costs its
  cluster's head and workers, whatever its Serve replicas ask, since those run inside them. The driver
  runs on the head pod, so its entrypoint resources are a share of the head, not another pod.
- `SHARED_HEAD` (`park up`): one local Ray head per ParkCluster, advertising the cluster's total;
  jobs and services run inside it. A job costs what it reserves there (its gang and its driver's
  entrypoint resources, at least one CPU when it declares neither) and a service its Serve replicas.

A ParkCluster costs its head plus `replicas` of each worker group on both: Park starts no Ray
autoscaler (KubeRay runs `replicas` pods; the local head advertises them), so `minReplicas` and
`maxReplicas` start nothing more. Like Kueue, Park charges the pods it asks for: requests, not use.

It sits beside the scheduler rather than inside it: the engine knows resource vectors, not Park kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from park.control.scheduler.resources import CPU, GPU, GPU_FLAVOR_PREFIX, MEMORY, Resources
from park.core.resources import (
    ComputeResources,
    DriverResources,
    ParkCluster,
    ParkClusterSpec,
    ParkJob,
    ParkService,
)
from park.substrates.kuberay_specs import SUBMITTER_RESOURCES, job_cluster_spec

HEAD = "head"
SUBMITTER = "submitter"
DRIVER = "driver"
GANG = "gang"


class Layout(StrEnum):
    """Where Park runs an object's Ray processes, which decides what the object costs."""

    SHARED_HEAD = "SharedHead"
    """`park up`: jobs and services run inside their ParkCluster's one local Ray head."""
    OWN_CLUSTER = "OwnCluster"
    """KubeRay: each job attempt and each service brings a Ray cluster of its own."""


@dataclass(frozen=True)
class Part:
    """`count` Ray nodes (pods) of one shape, or on a shared head `count` replicas of one deployment."""

    name: str
    each: Resources
    count: int = 1

    @property
    def total(self) -> Resources:
        return self.each.times(self.count)


@dataclass(frozen=True)
class Cost:
    parts: tuple[Part, ...]

    @cached_property
    def total(self) -> Resources:
        total = Resources()
        for part in self.parts:
            total += part.total
        return total

    def __str__(self) -> str:
        """`head: 2 cpu; 2 x gpu: 1 gpu, 4 cpu`: what `park describe` can show for a charge."""
        return "; ".join(
            f"{part.name if part.count == 1 else f'{part.count} x {part.name}'}: {part.each}"
            for part in self.parts
        )


def cost_of(
    obj: ParkJob | ParkService | ParkCluster, *, layout: Layout, template: ParkClusterSpec | None
) -> Cost:
    """What `obj` holds from its queue while admitted. `template` is the spec of the ParkCluster a job
    or service names (None when it does not exist); a ParkCluster is its own shape."""
    if isinstance(obj, ParkCluster):
        return cluster_cost(obj.spec)
    if isinstance(obj, ParkJob):
        return _job_cost(obj, layout, template)
    return _service_cost(obj, layout, template)


def cluster_cost(spec: ParkClusterSpec, *, extra: Iterable[Part] = ()) -> Cost:
    """The head and `replicas` of every worker group: the Ray nodes the cluster runs."""
    parts = [Part(HEAD, resources_of(spec.head.resources))]
    parts += [Part(g.name, resources_of(g.resources), g.replicas) for g in spec.worker_groups if g.replicas]
    return Cost((*parts, *extra))


def _job_cost(job: ParkJob, layout: Layout, template: ParkClusterSpec | None) -> Cost:
    if layout is Layout.OWN_CLUSTER:
        submitter = Resources.of(dict(SUBMITTER_RESOURCES["requests"]))
        return cluster_cost(job_cluster_spec(job, template), extra=[Part(SUBMITTER, submitter)])
    driver = _driver(job.spec.entrypoint_resources)
    gang = job.spec.resources
    if gang is None:
        return Cost((Part(DRIVER, driver if driver.raw(CPU) else driver + Resources.of(cpu=1)),))
    workers = Part(GANG, resources_of(gang.per_replica), gang.replicas)
    return Cost((Part(DRIVER, driver), workers) if not driver.is_zero() else (workers,))


def _service_cost(service: ParkService, layout: Layout, template: ParkClusterSpec | None) -> Cost:
    if layout is Layout.OWN_CLUSTER:
        return cluster_cost(template or ParkClusterSpec())
    return Cost(
        tuple(
            Part(d.key, Resources.of(dict(d.replica_resources)), d.target_replicas)
            for d in service.status.deployments
            if d.target_replicas
        )
    )


def resources_of(spec: ComputeResources | None) -> Resources:
    """One node's (or one replica's) resources; a typed gpu also counts as `gpu/<accelerator>`."""
    if spec is None:
        return Resources.of()
    amounts: dict[str, float | int | str] = {
        CPU: spec.cpu_cores(),
        MEMORY: spec.memory_bytes(),
        GPU: spec.gpus(),
    }
    if spec.accelerator and spec.gpu:
        amounts[f"{GPU_FLAVOR_PREFIX}{spec.accelerator}"] = spec.gpu
    amounts.update(spec.custom)
    return Resources.of({k: v for k, v in amounts.items() if v})


def _driver(driver: DriverResources) -> Resources:
    """What Ray reserves for the entrypoint on the head: exactly what the job declares."""
    amounts: dict[str, float | int | str] = {CPU: driver.cpu or 0, GPU: driver.gpu or 0}
    if driver.memory is not None:
        amounts[MEMORY] = driver.memory
    amounts.update(driver.custom)
    return Resources.of({k: v for k, v in amounts.items() if v})


class CostMemo:
    """Costs by what they depend on (the object's and its template's uid and generation), kept from one
    scheduling cycle to the next: on Kubernetes a job's cost builds its Ray cluster's shape, which a
    cycle over thousands of unchanged jobs should not redo. What a cycle does not ask for is dropped."""

    def __init__(self) -> None:
        self._last: dict[Hashable, Cost] = {}
        self._now: dict[Hashable, Cost] = {}

    def get(self, key: Hashable, compute: Callable[[], Cost]) -> Cost:
        found = self._now.get(key) or self._last.get(key) or compute()
        self._now[key] = found
        return found

    def next_cycle(self) -> None:
        self._last, self._now = self._now, {}


@dataclass(frozen=True)
class Costing:
    """The costs of one scheduling snapshot: where Ray runs, and the ParkClusters that shape jobs and
    services by name (`(namespace, name)` → cluster)."""

    layout: Layout = Layout.SHARED_HEAD
    templates: Mapping[tuple[str | None, str], ParkCluster] = field(default_factory=dict)
    memo: CostMemo | None = None

    @classmethod
    def of(cls, layout: Layout, clusters: Iterable[ParkCluster], memo: CostMemo | None = None) -> Costing:
        return cls(layout, {(c.metadata.namespace, c.metadata.name): c for c in clusters}, memo)

    def cost(self, obj: ParkJob | ParkService | ParkCluster) -> Cost:
        template = None
        if not isinstance(obj, ParkCluster):
            template = self.templates.get((obj.metadata.namespace, obj.spec.cluster))

        def compute() -> Cost:
            return cost_of(obj, layout=self.layout, template=template.spec if template is not None else None)

        key = self._key(obj, template)
        return compute() if key is None or self.memo is None else self.memo.get(key, compute)

    def _key(self, obj: ParkJob | ParkService | ParkCluster, template: ParkCluster | None) -> Hashable | None:
        """None when the cost depends on more than specs (a shared head's service: Serve's targets)."""
        meta = obj.metadata
        if not meta.uid or meta.generation is None:
            return None
        if isinstance(obj, ParkService) and self.layout is Layout.SHARED_HEAD:
            return None
        shape = (template.metadata.uid, template.metadata.generation) if template is not None else None
        return (self.layout, obj.kind, meta.uid, meta.generation, shape)


SHARED_HEAD = Costing()
"""`park up`'s costs where no ParkCluster shapes anything (jobs and services on a shared head)."""
