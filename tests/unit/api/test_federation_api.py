"""The federation routes: invitations that verify, revocation, work units, and clear errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from park.api import ApiContext, create_app
from park.control.logs import JobLogs, LogArchive
from park.control.store.sqlite import SQLiteStore
from park.core.clock import SystemClock
from park.core.resources import NodeCapabilities
from park.federation import tokens
from park.federation.identity import Identity
from park.federation.runtime import Federation, FederationSettings
from tests.fakes import NoClusters

TOKEN = "secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    store = SQLiteStore(tmp_path / "park.db", clock=SystemClock())
    federation = Federation(store, FederationSettings(directory=tmp_path / "federation"), clock=SystemClock())
    yield federation
    federation.queue.close()
    store.close()


def _client(federation: Federation | None, store: SQLiteStore, tmp_path: Path) -> TestClient:
    logs = JobLogs(store=store, substrate=NoClusters(), archive=LogArchive(tmp_path / "logs"))
    context = ApiContext(store=store, logs=logs, token=TOKEN, ready=lambda: True, federation=federation)
    return TestClient(create_app(context))


def test_an_invitation_registers_the_node_and_its_token_verifies(
    federation: Federation, tmp_path: Path
) -> None:
    node = Identity.generate()
    with _client(federation, federation.store, tmp_path) as client:  # type: ignore[arg-type]
        body = {"name": "alice", "peerId": node.peer_id, "capabilities": {"cpus": 2, "apps": ["probe"]}}
        reply = client.post("/v1/federation/invites", json=body, headers=AUTH)
        assert reply.status_code == 201, reply.text
        claims = tokens.check(
            reply.json()["token"], issuer=federation.authority.peer_id, peer_id=node.peer_id, now=time.time()
        )
        assert claims.node == "alice" and claims.capabilities.cpus == 2
        listed = client.get("/v1/federatednodes", headers=AUTH).json()["items"]
        assert [n["spec"]["peerId"] for n in listed] == [node.peer_id]
        revoked = client.post("/v1/federation/nodes/alice/revoke", headers=AUTH).json()
        assert revoked["spec"]["revoked"] is True
        again = client.post("/v1/federation/invites", json=body, headers=AUTH)
        assert again.status_code == 409 and "revoked" in again.json()["message"]
        bad = client.post("/v1/federation/invites", json={**body, "peerId": "Qm123"}, headers=AUTH)
        assert bad.status_code == 422
        info = client.get("/v1/federation", headers=AUTH).json()
        assert info["peerId"] == federation.authority.peer_id and "sha256-chain" in info["apps"]


def test_work_units_are_submitted_listed_and_read(federation: Federation, tmp_path: Path) -> None:
    with _client(federation, federation.store, tmp_path) as client:  # type: ignore[arg-type]
        created = client.post(
            "/v1/federation/work",
            json={"app": "sha256-chain", "payload": {"seed": "a", "rounds": 2}},
            headers=AUTH,
        )
        assert created.status_code == 201
        unit = created.json()
        assert unit["state"] == "queued" and unit["maxAttempts"] == 3
        assert client.get(f"/v1/federation/work/{unit['id']}", headers=AUTH).json()["id"] == unit["id"]
        assert [
            u["id"] for u in client.get("/v1/federation/work?state=queued", headers=AUTH).json()["items"]
        ] == [unit["id"]]
        unknown = client.post("/v1/federation/work", json={"app": "bitcoin", "payload": {}}, headers=AUTH)
        assert unknown.status_code == 422 and "unknown app" in unknown.json()["message"]
        missing = client.get("/v1/federation/work/w-0000000000000000", headers=AUTH)
        assert missing.status_code == 404


def test_work_units_name_the_node_that_holds_them(federation: Federation, tmp_path: Path) -> None:
    node = Identity.generate()
    with _client(federation, federation.store, tmp_path) as client:  # type: ignore[arg-type]
        body = {
            "name": "alice",
            "peerId": node.peer_id,
            "capabilities": {"cpus": 1, "apps": ["sha256-chain"]},
        }
        assert client.post("/v1/federation/invites", json=body, headers=AUTH).status_code == 201
        queued = client.post(
            "/v1/federation/work",
            json={"app": "sha256-chain", "payload": {"seed": "a", "rounds": 1}},
            headers=AUTH,
        ).json()
        assert queued["node"] is None
        leased = federation.queue.lease(
            node.peer_id, NodeCapabilities(apps=["sha256-chain"]), now=time.time()
        )
        assert leased is not None
        (listed,) = client.get("/v1/federation/work", headers=AUTH).json()["items"]
        assert (listed["node"], listed["peer"]) == ("alice", node.peer_id)
        assert client.get(f"/v1/federation/work/{leased.id}", headers=AUTH).json()["node"] == "alice"


def test_without_a_gateway_the_routes_say_so(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "park.db", clock=SystemClock())
    with _client(None, store, tmp_path) as client:
        reply = client.get("/v1/federation", headers=AUTH)
        assert reply.status_code == 404 and "PARK_FEDERATION_ENABLED" in reply.json()["message"]
    store.close()
