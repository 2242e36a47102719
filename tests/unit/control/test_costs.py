"""What an object costs in its queue: every Ray node (on Kubernetes, every pod) Park runs for it."""

from __future__ import annotations

from typing import Any

import pytest

from park.control.costs import Costing, CostMemo, Layout, cost_of
from park.control.scheduler import Resources
from park.core.meta import ObjectMeta
from park.core.resources import (
    ComputeResources,
    DriverResources,
    GangResources,
    HeadSpec,
    ParkCluster,
    ParkClusterSpec,
    ParkJob,
    ParkJobSpec,
    ParkService,
    ParkServiceSpec,
    ServiceDeployment,
    WorkerGroupSpec,
)

GIB = 2**30
MIB = 2**20
OWN, SHARED = Layout.OWN_CLUSTER, Layout.SHARED_HEAD


def gpu_cluster(*, replicas: int = 2, head_cpu: str = "2") -> ParkClusterSpec:
    """A head and one group of GPU workers, as a cluster admin writes a ParkCluster."""
    return ParkClusterSpec(
        head=HeadSpec(resources=ComputeResources(cpu=head_cpu, memory="4Gi")),
        worker_groups=[
            WorkerGroupSpec(
                name="gpu",
                replicas=replicas,
                min_replicas=1,
                max_replicas=8,
                resources=ComputeResources(cpu="4", memory="16Gi", gpu=1),
            )
        ],
    )


def job(**spec: Any) -> ParkJob:
    return ParkJob(
        metadata=ObjectMeta(name="train", namespace="ml"), spec=ParkJobSpec(entrypoint="x", **spec)
    )


def service(*, target: int, per_replica: dict[str, float]) -> ParkService:
    app = {"name": "llm", "import_path": "m:app", "deployments": [{"name": "decode"}]}
    deployment = ServiceDeployment(
        application="llm", name="decode", target_replicas=target, replica_resources=per_replica
    )
    obj = ParkService(
        metadata=ObjectMeta(name="chat", namespace="ml"), spec=ParkServiceSpec(applications=[app])
    )
    return obj.model_copy(update={"status": obj.status.model_copy(update={"deployments": [deployment]})})


# ---------------------------------------------------------------- services


def test_on_kubernetes_a_service_with_two_gpu_workers_is_charged_two_gpus_and_its_head() -> None:
    """Its RayService runs the cluster's head and both workers, whatever its one replica asks for."""
    cost = cost_of(service(target=1, per_replica={"gpu": 1}), layout=OWN, template=gpu_cluster())

    assert cost.total == Resources.of(cpu=2 + 2 * 4, memory=f"{4 + 2 * 16}Gi", gpu=2)
    assert [(part.name, part.count) for part in cost.parts] == [("head", 1), ("gpu", 2)]


def test_on_kubernetes_a_service_on_a_cluster_that_does_not_exist_runs_a_default_head() -> None:
    cost = cost_of(service(target=3, per_replica={"cpu": 0.5}), layout=OWN, template=None)

    assert cost.total == Resources.of(cpu=1)


def test_on_park_up_a_service_is_charged_each_replica_serve_runs_on_the_shared_head() -> None:
    cost = cost_of(
        service(target=3, per_replica={"cpu": 0.5, "gpu": 1}), layout=SHARED, template=gpu_cluster()
    )

    assert cost.total == Resources.of(cpu=1.5, gpu=3)
    assert [(part.name, part.count) for part in cost.parts] == [("llm/decode", 3)]


# ---------------------------------------------------------------- jobs


def test_on_kubernetes_a_job_is_charged_its_head_and_the_submitter_pod() -> None:
    """No gang: the RayJob's cluster is the template's head (no workers) plus KubeRay's submitter."""
    cost = cost_of(
        job(), layout=OWN, template=ParkClusterSpec(head=HeadSpec(resources=ComputeResources(cpu="2")))
    )

    assert cost.total == Resources.of(cpu=2.1, memory=256 * MIB)
    assert [part.name for part in cost.parts] == ["head", "submitter"]


def test_on_kubernetes_a_gang_job_is_charged_its_head_its_workers_and_the_submitter() -> None:
    """The gang replaces the template's worker groups, exactly as the RayJob's cluster is built."""
    gang = GangResources(replicas=4, per_replica=ComputeResources(cpu="4", gpu=1))
    cost = cost_of(job(resources=gang), layout=OWN, template=gpu_cluster(head_cpu="1"))

    assert cost.total == Resources.of(cpu=1 + 16 + 0.1, memory=4 * GIB + 256 * MIB, gpu=4)
    assert [(part.name, part.count) for part in cost.parts] == [("head", 1), ("gang", 4), ("submitter", 1)]


def test_on_kubernetes_a_job_without_a_gang_runs_the_templates_worker_groups() -> None:
    cost = cost_of(job(), layout=OWN, template=gpu_cluster(replicas=3))

    assert cost.total.get("gpu") == 3
    assert cost.total.get("cpu") == pytest.approx(2 + 12 + 0.1)


def test_on_kubernetes_a_job_on_a_cluster_that_does_not_exist_runs_a_one_cpu_head() -> None:
    assert cost_of(job(), layout=OWN, template=None).total == Resources.of(cpu=1.1, memory=256 * MIB)


def test_on_park_up_a_job_without_a_gang_is_charged_its_driver_and_at_least_one_cpu() -> None:
    """The driver runs on the cluster's shared head: no head of its own, at least a CPU for admission."""
    assert cost_of(job(), layout=SHARED, template=gpu_cluster()).total == Resources.of(cpu=1)
    driver = DriverResources(cpu=2, gpu=0.5, memory="1Gi", custom={"ray.io/tpu": 1})
    charged = cost_of(job(entrypoint_resources=driver), layout=SHARED, template=None).total
    assert charged == Resources.of({"cpu": 2, "gpu": 0.5, "memory": "1Gi", "ray.io/tpu": 1})


def test_on_park_up_a_gang_job_is_charged_its_gang_and_what_its_driver_reserves() -> None:
    gang = GangResources(replicas=2, per_replica=ComputeResources(cpu="1", gpu=1, accelerator="nvidia-a100"))
    assert cost_of(job(resources=gang), layout=SHARED, template=None).total == Resources.of(
        {"cpu": 2, "gpu": 2, "gpu/nvidia-a100": 2}
    )
    with_driver = job(resources=gang, entrypoint_resources=DriverResources(cpu=0.5))
    assert cost_of(with_driver, layout=SHARED, template=None).total.get("cpu") == 2.5


# ---------------------------------------------------------------- clusters


@pytest.mark.parametrize("layout", [OWN, SHARED])
def test_a_cluster_is_charged_its_head_and_each_worker_replica_on_both_substrates(layout: Layout) -> None:
    """`replicas` is what runs: Park starts no Ray autoscaler, so min/maxReplicas start nothing more."""
    cluster = ParkCluster(metadata=ObjectMeta(name="gpus", namespace="ml"), spec=gpu_cluster(replicas=2))

    cost = cost_of(cluster, layout=layout, template=None)

    assert cost.total == Resources.of(cpu=10, memory="36Gi", gpu=2)
    assert str(cost) == "head: 2 cpu, 4Gi memory; 2 x gpu: 1 gpu, 4 cpu, 16Gi memory"


# ---------------------------------------------------------------- from one cycle to the next


def stored(obj: ParkJob | ParkCluster, generation: int) -> Any:
    """As the store hands it out: with a uid and a generation (the spec's version)."""
    meta = obj.metadata.model_copy(update={"uid": f"uid-{obj.metadata.name}", "generation": generation})
    return obj.model_copy(update={"metadata": meta})


def test_a_cycle_reuses_a_cost_until_the_object_or_its_cluster_changes() -> None:
    memo = CostMemo()
    cluster = stored(ParkCluster(metadata=ObjectMeta(name="default", namespace="ml"), spec=gpu_cluster()), 1)
    first = Costing.of(OWN, [cluster], memo).cost(stored(job(), 1))
    memo.next_cycle()

    assert Costing.of(OWN, [cluster], memo).cost(stored(job(), 1)) is first
    gang = GangResources(replicas=1, per_replica=ComputeResources(cpu="1"))
    changed = stored(job(resources=gang), 2)  # a spec change is a new generation
    assert Costing.of(OWN, [cluster], memo).cost(changed).total.get("gpu") == 0
    wider = stored(cluster.model_copy(update={"spec": gpu_cluster(replicas=3)}), 2)
    assert Costing.of(OWN, [wider], memo).cost(stored(job(), 1)).total.get("gpu") == 3
    memo.next_cycle()
    memo.next_cycle()  # two cycles without the job: forgotten
    assert Costing.of(OWN, [cluster], memo).cost(stored(job(), 1)) is not first
