"""Park's REST API served over `KubernetesStore`: the same routes, errors and events on a real cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kubernetes import client as k8s

from park.api.app import create_app
from park.api.deps import ApiContext
from park.operator.jobs import kubernetes_job_logs
from park.operator.settings import OperatorSettings
from park.operator.store import KubernetesStore

pytestmark = pytest.mark.e2e
TOKEN = "e2e-token"  # noqa: S105 - a test's own bearer token


@pytest.fixture
def api(api_client: k8s.ApiClient) -> Iterator[TestClient]:
    store = KubernetesStore(api_client)
    context = ApiContext(
        store=store,
        logs=kubernetes_job_logs(store=store, api_client=api_client, settings=OperatorSettings()),
        token=TOKEN,
        ready=lambda: True,
    )
    with TestClient(create_app(context), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def test_the_rest_api_works_on_kubernetes(api: TestClient, namespace: str) -> None:
    job = {
        "apiVersion": "park.dev/v1alpha1",
        "kind": "ParkJob",
        "metadata": {"name": "hello", "namespace": namespace},
        "spec": {"entrypoint": "python hello.py", "priority": 3},
    }
    created = api.post(f"/v1/namespaces/{namespace}/jobs", json=job)
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["uid"]
    again = api.post(f"/v1/namespaces/{namespace}/jobs", json=job)
    assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"

    listed = api.get(f"/v1/namespaces/{namespace}/jobs").json()
    assert [item["metadata"]["name"] for item in listed["items"]] == ["hello"]
    got = api.get(f"/v1/namespaces/{namespace}/jobs/hello").json()
    assert got["spec"]["priority"] == 3

    invalid = {**job, "metadata": {"name": "bad", "namespace": namespace}, "spec": {"entrypoint": ""}}
    refused = api.post(f"/v1/namespaces/{namespace}/jobs", json=invalid)
    assert refused.status_code == 422 and "entrypoint" in refused.json()["message"]

    assert api.get(f"/v1/namespaces/{namespace}/jobs/hello/logs").text == ""
    deleted = api.delete(f"/v1/namespaces/{namespace}/jobs/hello")
    assert deleted.status_code == 200, deleted.text
    assert api.get(f"/v1/namespaces/{namespace}/jobs/hello").status_code == 404
    assert api.get("/v1").status_code == 200
