"""The ParkCluster controller: keeps each cluster's Ray cluster running and matching its spec.

The same controller runs under `park up` (one local Ray head per cluster) and in the operator (a KubeRay
RayCluster per cluster, park.substrates.kuberay_clusters): it asks the substrate what runs, asks
`plan_cluster`, and carries the plan out, so phases, messages, events and status fields are the same.
"""

from __future__ import annotations

import asyncio
import logging

from park.control.controllers.effects import ObjectWriter
from park.control.reconcile.actions import EnsureCluster, RecordEvent, StopCluster, WriteStatus
from park.control.reconcile.cluster import cluster_key, declaration, plan_cluster
from park.control.store import Store
from park.core.clock import Clock
from park.core.errors import InvalidError, NotFoundError, SubstrateError, SubstrateUnavailableError
from park.core.resources import ParkCluster, ResourceKey
from park.substrates.interface import ClusterDeclaration, ClusterRunner

logger = logging.getLogger(__name__)


class ClusterReconciler:
    kind = "ParkCluster"

    def __init__(
        self,
        *,
        store: Store,
        substrate: ClusterRunner,
        clock: Clock,
        check_every: float | None = 5.0,
        finalizer: bool = True,
    ) -> None:
        """`check_every`: look at a running cluster this often with no change (None: only when told of
        one, where a watch on the substrate's objects wakes the controller). `finalizer`: hold a deleted
        cluster until its Ray cluster is stopped; not needed where the ParkCluster owns what runs."""
        self._store = store
        self._substrate = substrate
        self._clock = clock
        self._check_every = check_every
        self._finalizer = finalizer

    async def reconcile(self, key: ResourceKey) -> float | None:
        try:
            cluster = self._store.get(key.kind, key.namespace, key.name)
        except NotFoundError:
            return None  # deleted: on Kubernetes the garbage collector removes what it owned
        except InvalidError as exc:  # retrying cannot help: the object's next change brings it back
            logger.debug("not reconciling %s: %s", key, exc)
            return None
        assert isinstance(cluster, ParkCluster)
        substrate_key = cluster_key(cluster.metadata.namespace, cluster.metadata.name)
        observed = await asyncio.to_thread(
            self._substrate.observe_cluster, substrate_key, declaration(cluster)
        )
        plan = plan_cluster(
            cluster, observed, self._clock.now(), check_every=self._check_every, finalizer=self._finalizer
        )
        writer = ObjectWriter(self._store, cluster)
        for action in plan.actions:
            if await asyncio.to_thread(writer.apply, action):  # off the loop: other keys go on
                continue
            match action:
                case EnsureCluster(config=config):
                    assert isinstance(writer.obj, ParkCluster)
                    wanted = ClusterDeclaration(owner=writer.obj, total=config)
                    try:
                        await asyncio.to_thread(self._substrate.declare_cluster, substrate_key, wanted)
                    except SubstrateUnavailableError:
                        raise  # not reachable now: retried with backoff, the status stays as planned
                    except SubstrateError as exc:
                        self._failed(writer, str(exc))
                        raise
                case StopCluster():
                    await asyncio.to_thread(self._substrate.stop_cluster, substrate_key)
                case _:
                    raise TypeError(f"unexpected action {action!r}")
        return plan.requeue_after

    def _failed(self, writer: ObjectWriter, message: str) -> None:
        status = writer.obj.status.model_copy(update={"phase": "Failed", "message": message})
        writer.apply(WriteStatus(status))
        writer.apply(RecordEvent("Warning", "StartFailed", message))
