"""The ParkCluster controller: keeps each cluster's Ray head alive and matching its spec."""

from __future__ import annotations

import asyncio

from park.control.controllers.effects import ObjectWriter
from park.control.reconcile.actions import EnsureCluster, RecordEvent, StopCluster, WriteStatus
from park.control.reconcile.cluster import ClusterObservation, cluster_key, plan_cluster
from park.control.store import Store
from park.core.clock import Clock
from park.core.errors import NotFoundError, SubstrateError
from park.core.resources import ParkCluster, ResourceKey
from park.substrates.interface import Substrate


class ClusterReconciler:
    kind = "ParkCluster"

    def __init__(self, *, store: Store, substrate: Substrate, clock: Clock, check_every: float = 5.0) -> None:
        self._store = store
        self._substrate = substrate
        self._clock = clock
        self._check_every = check_every

    async def reconcile(self, key: ResourceKey) -> float | None:
        try:
            cluster = self._store.get(key.kind, key.namespace, key.name)
        except NotFoundError:
            return None
        assert isinstance(cluster, ParkCluster)
        substrate_key = cluster_key(cluster.metadata.namespace, cluster.metadata.name)
        observed = await asyncio.to_thread(self._observe, substrate_key)
        plan = plan_cluster(cluster, observed, self._clock.now(), check_every=self._check_every)
        writer = ObjectWriter(self._store, cluster)
        for action in plan.actions:
            if writer.apply(action):
                continue
            match action:
                case EnsureCluster(config=config):
                    try:
                        await asyncio.to_thread(self._substrate.ensure_cluster, substrate_key, config)
                    except SubstrateError as exc:
                        self._failed(writer, str(exc))
                        raise
                case StopCluster():
                    await asyncio.to_thread(self._substrate.stop_cluster, substrate_key)
        return plan.requeue_after

    def _observe(self, substrate_key: str) -> ClusterObservation:
        handle = self._substrate.get_cluster(substrate_key)
        resources = self._substrate.cluster_resources(handle) if handle is not None else {}
        return ClusterObservation(handle=handle, resources=resources)

    def _failed(self, writer: ObjectWriter, message: str) -> None:
        status = writer.obj.status.model_copy(update={"phase": "Failed", "message": message})
        writer.apply(WriteStatus(status))
        writer.apply(RecordEvent("Warning", "StartFailed", message))
