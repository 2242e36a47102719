"""Leader election on a coordination.k8s.io Lease: only one operator replica runs the scheduler loop.

Two schedulers would each admit against a quota the other already filled, so the loop runs only while
this replica holds the Lease. The Lease is taken with the API server's optimistic concurrency (a stale
resourceVersion loses with 409), renewed every third of its duration, and the loop is cancelled as soon
as a renewal fails, before another replica can take over. The holder renews with one PUT of the Lease it
last wrote (no GET first); a standby reads the Lease to see whether its holder went quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

logger = logging.getLogger(__name__)


def may_take(
    holder: str | None, renewed: datetime | None, duration_s: float, identity: str, now: datetime
) -> bool:
    """A Lease is ours to take when nobody holds it, we hold it, or its holder stopped renewing."""
    if not holder or holder == identity:
        return True
    return renewed is None or now - renewed > timedelta(seconds=duration_s)


class LeaseElector:
    def __init__(
        self, api_client: k8s.ApiClient, *, namespace: str, name: str, identity: str, duration_s: float
    ) -> None:
        self._api = k8s.CoordinationV1Api(api_client)
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._duration = duration_s
        self._held: k8s.V1Lease | None = None  # the Lease as this replica last wrote it

    def try_acquire(self) -> bool:
        """One attempt to take or renew the Lease; False when another replica holds it or won a race."""
        if self._held is not None and self._renew(self._held):
            return True
        self._held = None
        now = datetime.now(UTC)
        spec = k8s.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=int(self._duration),
            renew_time=now,
        )
        try:
            lease = self._api.read_namespaced_lease(self._name, self._namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = k8s.V1Lease(metadata=k8s.V1ObjectMeta(name=self._name), spec=spec)
            spec.acquire_time = now
            return self._keep(lambda: self._api.create_namespaced_lease(self._namespace, body))
        current = lease.spec or k8s.V1LeaseSpec()
        if not may_take(current.holder_identity, current.renew_time, self._duration, self.identity, now):
            return False
        if current.holder_identity != self.identity:
            spec.acquire_time = now
            spec.lease_transitions = (current.lease_transitions or 0) + 1
        else:
            spec.acquire_time = current.acquire_time
            spec.lease_transitions = current.lease_transitions
        lease.spec = spec  # lease.metadata keeps its resourceVersion: a concurrent taker gets 409
        return self._keep(lambda: self._api.replace_namespaced_lease(self._name, self._namespace, lease))

    def _renew(self, held: k8s.V1Lease) -> bool:
        """One PUT with the resourceVersion this replica wrote last: 409 means someone else wrote since."""
        if held.spec is None:
            return False
        held.spec.renew_time = datetime.now(UTC)
        try:
            return self._keep(lambda: self._api.replace_namespaced_lease(self._name, self._namespace, held))
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def _keep(self, write: Callable[[], k8s.V1Lease]) -> bool:
        try:
            self._held = write()
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def run_while_leader(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `work` whenever this replica leads; cancel it the moment leadership is not renewed."""
        task: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    leading = await asyncio.to_thread(self.try_acquire)
                except ApiException as exc:
                    logger.warning("lease %s/%s: %s", self._namespace, self._name, exc.reason)
                    leading = False
                if leading and task is None:
                    logger.info("%s leads: starting the scheduler and the controllers", self.identity)
                    task = asyncio.create_task(work())
                elif not leading and task is not None:
                    logger.warning(
                        "%s lost the lease: stopping the scheduler and the controllers", self.identity
                    )
                    task.cancel()
                    task = None
                if task is not None and task.done():
                    task.result()  # the loop died: surface it (the operator restarts)
                await asyncio.sleep(self._duration / 3)
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await asyncio.to_thread(self.release)

    def release(self) -> None:
        """Stopping while leading: free the Lease (its work is already stopped), so a standby takes over at
        once instead of after the Lease's duration. Best effort: a failure leaves the Lease to expire."""
        held, self._held = self._held, None
        if held is None or held.spec is None:
            return
        held.spec.holder_identity = None
        held.spec.renew_time = None
        with contextlib.suppress(ApiException, OSError):
            self._api.replace_namespaced_lease(self._name, self._namespace, held)
            logger.info("%s released the lease", self.identity)
