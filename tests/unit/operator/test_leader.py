"""The scheduler's Lease: taken when free or stale, renewed with one PUT, lost on a concurrent write."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from park.operator.leader import LeaseElector, may_take


class FakeLeases:
    """CoordinationV1Api for one Lease, with the API server's optimistic concurrency."""

    def __init__(self) -> None:
        self.lease: k8s.V1Lease | None = None
        self.calls: list[str] = []
        self._rv = 0

    def _stored(self, lease: k8s.V1Lease) -> k8s.V1Lease:
        self._rv += 1
        lease = copy.deepcopy(lease)
        lease.metadata.resource_version = str(self._rv)
        self.lease = lease
        return copy.deepcopy(lease)

    def read_namespaced_lease(self, name: str, namespace: str) -> k8s.V1Lease:
        self.calls.append("GET")
        if self.lease is None:
            raise ApiException(status=404)
        return copy.deepcopy(self.lease)

    def create_namespaced_lease(self, namespace: str, body: k8s.V1Lease) -> k8s.V1Lease:
        self.calls.append("POST")
        if self.lease is not None:
            raise ApiException(status=409)
        return self._stored(body)

    def replace_namespaced_lease(self, name: str, namespace: str, body: k8s.V1Lease) -> k8s.V1Lease:
        self.calls.append("PUT")
        assert self.lease is not None
        if body.metadata.resource_version != self.lease.metadata.resource_version:
            raise ApiException(status=409)
        return self._stored(body)


def elector(leases: FakeLeases, identity: str) -> LeaseElector:
    chosen = LeaseElector(k8s.ApiClient(), namespace="ns", name="park", identity=identity, duration_s=15)
    chosen._api = leases  # type: ignore[assignment]
    return chosen


def test_the_holder_renews_with_one_put_and_a_standby_only_reads() -> None:
    leases = FakeLeases()
    first, second = elector(leases, "a"), elector(leases, "b")
    assert first.try_acquire() and leases.calls == ["GET", "POST"]
    leases.calls.clear()
    assert first.try_acquire() and first.try_acquire()
    assert leases.calls == ["PUT", "PUT"], "no GET before each renewal"
    leases.calls.clear()
    assert not second.try_acquire() and leases.calls == ["GET"]


def test_a_holder_whose_lease_was_written_by_another_reads_it_again() -> None:
    leases = FakeLeases()
    first, second = elector(leases, "a"), elector(leases, "b")
    assert first.try_acquire()
    assert leases.lease is not None and leases.lease.spec is not None
    leases.lease.spec.renew_time = datetime.now(UTC) - timedelta(seconds=60)  # `a` went quiet
    assert second.try_acquire()
    assert not first.try_acquire(), "its PUT conflicts, and the Lease it then reads is b's and fresh"
    assert leases.lease.spec.holder_identity == "b"


def test_a_lease_is_free_unheld_or_stale() -> None:
    now = datetime.now(UTC)
    assert may_take(None, None, 15, "a", now)
    assert may_take("a", now, 15, "a", now)
    assert not may_take("b", now - timedelta(seconds=5), 15, "a", now)
    assert may_take("b", now - timedelta(seconds=20), 15, "a", now)


def test_a_holder_that_stops_frees_the_lease_for_a_standby_at_once() -> None:
    leases = FakeLeases()
    first, second = elector(leases, "a"), elector(leases, "b")
    assert first.try_acquire()
    first.release()
    assert leases.lease is not None and leases.lease.spec is not None
    assert not leases.lease.spec.holder_identity
    assert second.try_acquire(), "no need to wait for the Lease's duration"
    first.release()  # not holding any more: nothing to free
    assert leases.lease.spec.holder_identity == "b"
