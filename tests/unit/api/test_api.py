"""The REST API in-process (no sockets): auth, CRUD, errors in one JSON shape, events, watch history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from park.api import ApiContext, create_app
from park.control.logs import JobLogs, LogArchive
from park.control.store.sqlite import SQLiteStore
from tests.fakes import NoClusters

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def store(tmp_path: Any) -> Iterator[SQLiteStore]:
    db = SQLiteStore(tmp_path / "park.db")
    yield db
    db.close()


@pytest.fixture
def client(store: SQLiteStore, tmp_path: Any) -> Iterator[TestClient]:
    archive = LogArchive(tmp_path / "logs")
    logs = JobLogs(store=store, substrate=NoClusters(), archive=archive)
    app = create_app(ApiContext(store=store, logs=logs, token=TOKEN, ready=lambda: True))
    with TestClient(app, headers=AUTH) as test_client:
        yield test_client


def job(name: str = "hello", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "park.dev/v1alpha1",
        "kind": "ParkJob",
        "metadata": {"name": name, "labels": {"team": "a"}},
        "spec": {"entrypoint": "python hello.py", **spec},
    }


JOBS = "/v1/namespaces/default/jobs"


def test_requests_without_a_valid_token_get_401(client: TestClient) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        response = client.get(JOBS, headers=headers)
        assert response.status_code == 401
        assert response.json()["reason"] == "Unauthorized"
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200


def test_create_get_list_and_select_by_label(client: TestClient) -> None:
    created = client.post(JOBS, json=job())
    assert created.status_code == 201
    body = created.json()
    assert body["metadata"]["namespace"] == "default"
    assert body["metadata"]["generation"] == 1
    assert client.get(f"{JOBS}/hello").json()["spec"]["entrypoint"] == "python hello.py"
    client.post(JOBS, json=job("other") | {"metadata": {"name": "other", "labels": {"team": "b"}}})
    names = [
        i["metadata"]["name"] for i in client.get(JOBS, params={"labelSelector": "team=a"}).json()["items"]
    ]
    assert names == ["hello"]
    assert len(client.get("/v1/jobs").json()["items"]) == 2


def test_errors_come_back_as_one_json_shape(client: TestClient) -> None:
    client.post(JOBS, json=job())
    cases = [
        (client.post(JOBS, json=job()), 409, "AlreadyExists"),
        (client.get(f"{JOBS}/missing"), 404, "NotFound"),
        (client.post(JOBS, json=job(retires=1)), 422, "Invalid"),
        (client.post(JOBS, json=job() | {"kind": "ParkCluster"}), 422, "Invalid"),
        (client.get("/v1/namespaces/default/pods"), 422, "Invalid"),
        (
            client.post(JOBS, content=b"{not json", headers={"Content-Type": "application/json"}),
            422,
            "Invalid",
        ),
    ]
    for response, code, reason in cases:
        assert (response.status_code, response.json()["reason"]) == (code, reason), response.json()
        assert "\n" not in response.json()["message"]


def test_a_stale_resource_version_is_a_conflict(client: TestClient) -> None:
    first = client.post(JOBS, json=job()).json()
    stale = dict(first)
    first["spec"]["retries"] = 1
    updated = client.put(f"{JOBS}/hello", json=first)
    assert updated.status_code == 200
    assert updated.json()["metadata"]["generation"] == 2
    stale["spec"] = {**stale["spec"], "retries": 2}
    conflict = client.put(f"{JOBS}/hello", json=stale)
    assert conflict.status_code == 409
    assert conflict.json()["reason"] == "Conflict"


def test_the_url_and_the_body_must_name_the_same_object(client: TestClient) -> None:
    client.post(JOBS, json=job())
    response = client.put(f"{JOBS}/hello", json=job("other"))
    assert response.status_code == 422
    assert "does not match the URL" in response.json()["message"]


def test_queues_are_cluster_scoped(client: TestClient) -> None:
    queue = {
        "apiVersion": "park.dev/v1alpha1",
        "kind": "ParkQueue",
        "metadata": {"name": "team-a"},
        "spec": {},
    }
    assert client.post("/v1/queues", json=queue).status_code == 201
    assert client.get("/v1/queues/team-a").json()["metadata"]["name"] == "team-a"
    assert client.post("/v1/namespaces/default/queues", json=queue).status_code == 422


def test_delete_then_404(client: TestClient) -> None:
    client.post(JOBS, json=job())
    assert client.delete(f"{JOBS}/hello").status_code == 200
    assert client.get(f"{JOBS}/hello").status_code == 404


def test_events_of_an_object(client: TestClient, store: SQLiteStore) -> None:
    client.post(JOBS, json=job())
    obj = store.get("ParkJob", "default", "hello")
    store.record_event(obj, type="Warning", reason="Retrying", message="attempt 1 failed")
    store.record_event(obj, type="Warning", reason="Retrying", message="attempt 1 failed")
    (event,) = client.get(f"{JOBS}/hello/events").json()["items"]
    assert (event["reason"], event["count"]) == ("Retrying", 2)


def test_logs_of_a_job_that_never_ran_are_empty(client: TestClient) -> None:
    client.post(JOBS, json=job())
    assert client.get(f"{JOBS}/hello/logs").text == ""
    assert client.get(f"{JOBS}/missing/logs").status_code == 404


def test_watch_from_compacted_history_is_410(tmp_path: Any) -> None:
    store = SQLiteStore(tmp_path / "small.db", history_limit=2)
    logs = JobLogs(store=store, substrate=NoClusters(), archive=LogArchive(tmp_path / "logs"))
    app = create_app(ApiContext(store=store, logs=logs, token=TOKEN, ready=lambda: True))
    with TestClient(app, headers=AUTH) as client:
        for name in ("a", "b", "c", "d"):
            client.post(JOBS, json=job(name))
        response = client.get("/v1/watch", params={"resourceVersion": 0})
        assert response.status_code == 410
        assert response.json()["reason"] == "Expired"
    store.close()


def test_metrics_count_objects_by_phase(client: TestClient) -> None:
    client.post(JOBS, json=job())
    text = client.get("/metrics").text
    assert 'park_objects{kind="ParkJob",phase="Unknown"} 1.0' in text
    assert "park_api_requests_total" in text


def test_openapi_describes_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/namespaces/{namespace}/{plural}/{name}" in paths
    assert "/v1/watch" in paths


def test_discovery_lists_the_kinds_this_server_serves(client: TestClient) -> None:
    body = client.get("/v1").json()
    kinds = {entry["kind"]: entry for entry in body["resources"]}
    assert set(kinds) == {
        "ParkJob",
        "ParkCluster",
        "ParkService",
        "ParkQueue",
        "ParkPriorityClass",
        "ParkResourceFlavor",
        "FederatedNode",
    }
    assert kinds["ParkQueue"] == {
        "kind": "ParkQueue",
        "plural": "queues",
        "singular": "queue",
        "shortNames": ["pq", "parkqueue", "parkqueues"],
        "namespaced": False,
    }
    assert client.get("/v1", headers={"Authorization": ""}).status_code == 401


def test_the_event_feed_holds_every_objects_newest_events(client: TestClient, store: SQLiteStore) -> None:
    for name in ("a", "b"):
        client.post(JOBS, json=job(name))
    for name, reason in (("a", "Submitted"), ("b", "Submitted"), ("a", "Succeeded")):
        store.record_event(store.get("ParkJob", "default", name), type="Normal", reason=reason, message=name)
    items = client.get("/v1/events").json()["items"]
    assert [(e["name"], e["reason"]) for e in items] == [
        ("a", "Submitted"),
        ("b", "Submitted"),
        ("a", "Succeeded"),
    ]
    assert items[0]["kind"] == "ParkJob" and items[0]["namespace"] == "default"
    newest = client.get("/v1/events", params={"limit": 1}).json()["items"]
    assert [(e["name"], e["reason"]) for e in newest] == [("a", "Succeeded")]
    assert client.get("/v1/events", params={"namespace": "other"}).json()["items"] == []
