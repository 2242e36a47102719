"""Resource flavors through the scheduler loop: what a platform user sees in the objects' status."""

from __future__ import annotations

import re

import pytest

from park.control.controllers.scheduling import SchedulerLoop
from park.control.scheduler import PolicyConfig
from park.control.store.sqlite import SQLiteStore
from park.core.clock import FakeClock
from park.core.errors import InvalidError
from park.core.flavors import ParkResourceFlavor, ParkResourceFlavorSpec
from park.core.loading import parse_resource
from park.core.meta import ObjectMeta
from park.core.resources import (
    ComputeResources,
    GangResources,
    ParkJob,
    ParkJobSpec,
    ParkQueue,
    ParkQueueSpec,
    ParkService,
    ParkServiceSpec,
    QueueFlavor,
    ServiceAdmission,
    ServiceDeployment,
    Toleration,
)

TAINT = Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")


def create_flavor(store: SQLiteStore, name: str, accelerator: str) -> None:
    spec = ParkResourceFlavorSpec(
        accelerator=accelerator, node_labels={"gpu": accelerator, "zone": "us-east1-b"}, tolerations=[TAINT]
    )
    store.create(ParkResourceFlavor(metadata=ObjectMeta(name=name), spec=spec))


def create_queue(store: SQLiteStore, *flavors: tuple[str, int]) -> None:
    entries = [QueueFlavor(name=name, nominal_quota=ComputeResources(gpu=gpus)) for name, gpus in flavors]
    store.create(ParkQueue(metadata=ObjectMeta(name="team-a"), spec=ParkQueueSpec(flavors=entries)))


def create_job(store: SQLiteStore, name: str, gpus: int, accelerator: str | None = None) -> None:
    per_replica = ComputeResources(cpu="1", gpu=gpus, accelerator=accelerator)
    spec = ParkJobSpec(
        entrypoint="python train.py", queue="team-a", resources=GangResources(per_replica=per_replica)
    )
    store.create(ParkJob(metadata=ObjectMeta(name=name, namespace="default"), spec=spec))


def job(store: SQLiteStore, name: str) -> ParkJob:
    found = store.get("ParkJob", "default", name)
    assert isinstance(found, ParkJob)
    return found


def queue(store: SQLiteStore) -> ParkQueue:
    found = store.get("ParkQueue", None, "team-a")
    assert isinstance(found, ParkQueue)
    return found


def cycle(store: SQLiteStore, clock: FakeClock) -> None:
    SchedulerLoop(store=store, clock=clock, config=PolicyConfig(min_runtime_s=0)).cycle_once()


def test_each_job_is_admitted_on_a_flavor_and_told_where_its_pods_go(
    store: SQLiteStore, clock: FakeClock
) -> None:
    create_flavor(store, "h100", "nvidia-h100")
    create_flavor(store, "a100", "nvidia-a100")
    create_queue(store, ("h100", 2), ("a100", 4))
    create_job(store, "any-gpu", 2)
    create_job(store, "wants-a100", 1, "nvidia-a100")
    cycle(store, clock)
    first, second = job(store, "any-gpu").status.admission, job(store, "wants-a100").status.admission
    assert first is not None and first.admitted and first.flavor == "h100"
    assert first.node_selector == {"gpu": "nvidia-h100", "zone": "us-east1-b"}
    assert first.tolerations == [TAINT]
    assert "admitted on flavor h100" in first.message
    assert second is not None and second.admitted and second.flavor == "a100"


def test_admitted_work_stays_on_its_flavor_and_queue_status_shows_usage_per_flavor(
    store: SQLiteStore, clock: FakeClock
) -> None:
    create_flavor(store, "h100", "nvidia-h100")
    create_flavor(store, "a100", "nvidia-a100")
    create_queue(store, ("h100", 1), ("a100", 1))
    for name in ("one", "two", "three"):
        create_job(store, name, 1)
        clock.advance(1)
    cycle(store, clock)
    cycle(store, clock)  # a fresh engine: each admitted job must be charged on the flavor it holds
    flavors = {name: job(store, name).status.admission for name in ("one", "two", "three")}
    assert {name: a.flavor for name, a in flavors.items() if a is not None} == {
        "one": "h100",
        "two": "a100",
        "three": None,
    }
    three = flavors["three"]
    assert three is not None and not three.admitted
    usage = queue(store).status.usage
    assert usage.used == {"gpu": 2, "cpu": 2}
    assert [(f.name, f.used) for f in usage.flavors] == [
        ("h100", {"gpu": 1, "cpu": 1}),
        ("a100", {"gpu": 1, "cpu": 1}),
    ]


def test_a_queue_naming_a_flavor_that_does_not_exist_is_inactive_and_says_which_field(
    store: SQLiteStore, clock: FakeClock
) -> None:
    create_flavor(store, "h100", "nvidia-h100")
    create_queue(store, ("h100", 2), ("a100", 2))
    create_job(store, "train", 1)
    cycle(store, clock)
    status = queue(store).status
    assert status.phase == "Inactive"
    (active,) = [c for c in status.conditions if c.type == "Active"]
    assert (active.status, active.reason) == ("False", "FlavorNotFound")
    assert active.message is not None
    assert active.message.startswith("spec.flavors[1].name: ParkResourceFlavor 'a100' does not exist")
    admission = job(store, "train").status.admission
    assert admission is not None and not admission.admitted
    assert admission.message.startswith("waiting: queue team-a is inactive: spec.flavors[1].name")
    create_flavor(store, "a100", "nvidia-a100")
    cycle(store, clock)
    assert queue(store).status.phase == "Active"
    admitted = job(store, "train").status.admission
    assert admitted is not None and admitted.admitted


def test_a_plain_queue_is_unchanged_and_its_admissions_name_no_flavor(
    store: SQLiteStore, clock: FakeClock
) -> None:
    plain = ParkQueueSpec(nominal_quota=ComputeResources(gpu=4))
    store.create(ParkQueue(metadata=ObjectMeta(name="team-a"), spec=plain))
    create_job(store, "train", 2)
    cycle(store, clock)
    admission = job(store, "train").status.admission
    assert admission is not None and admission.admitted and admission.flavor is None
    assert admission.node_selector is None and admission.tolerations is None, "nothing to place: no flavor"
    assert queue(store).status.usage.flavors == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"nominalQuota": {"gpu": 4}, "flavors": [{"name": "h100"}]},
            "spec: a queue with flavors sets its quota per flavor",
        ),
        ({"flavors": [{"name": "h100"}, {"name": "h100"}]}, "flavors[1].name 'h100' is listed twice"),
    ],
)
def test_a_queue_mixing_plain_quota_and_flavors_is_refused_in_one_line(
    spec: dict[str, object], message: str
) -> None:
    doc = {"apiVersion": "park.dev/v1alpha1", "kind": "ParkQueue", "metadata": {"name": "q"}, "spec": spec}
    with pytest.raises(InvalidError, match=re.escape(message)) as refused:
        parse_resource(doc)
    assert "\n" not in str(refused.value)


def create_service(store: SQLiteStore, replicas: int) -> None:
    app = {"name": "llm", "import_path": "park.workloads.serve.app:build"}
    created = store.create(
        ParkService(
            metadata=ObjectMeta(name="chat", namespace="default"),
            spec=ParkServiceSpec(applications=[app], queue="team-a"),
        )
    )
    deployment = ServiceDeployment(
        application="llm", name="decode", target_replicas=replicas, replica_resources={"gpu": 1}
    )
    status = created.status.model_copy(update={"phase": "Queued", "deployments": [deployment]})
    store.update_status(created.model_copy(update={"status": status}))


def service_admission(store: SQLiteStore) -> ServiceAdmission:
    found = store.get("ParkService", "default", "chat")
    assert isinstance(found, ParkService) and found.status.admission is not None
    return found.status.admission


def test_a_services_replicas_all_run_on_the_flavor_its_first_replicas_got(
    store: SQLiteStore, clock: FakeClock
) -> None:
    """h100 has room for one replica, a100 for two: the second replica may not go to a100 alone."""
    create_flavor(store, "h100", "nvidia-h100")
    create_flavor(store, "a100", "nvidia-a100")
    create_queue(store, ("h100", 1), ("a100", 2))
    create_service(store, replicas=2)
    cycle(store, clock)
    first = service_admission(store)
    assert (first.flavor, first.replicas) == ("h100", {"llm/decode": 1})
    assert first.node_selector == {"gpu": "nvidia-h100", "zone": "us-east1-b"}
    cycle(store, clock)
    again = service_admission(store)
    assert (again.flavor, again.replicas) == ("h100", {"llm/decode": 1})
    assert "cannot ever fit" not in again.message
    assert [(f.name, f.used) for f in queue(store).status.usage.flavors] == [
        ("h100", {"gpu": 1}),
        ("a100", {}),
    ]
