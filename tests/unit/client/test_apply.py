"""`park apply` of what `kubectl apply` made: kubectl's annotation stays, so the same YAML is unchanged."""

from __future__ import annotations

import json

import httpx

from park.client import ParkClient
from park.client.client import kubernetes_owned
from park.core.loading import parse_resource

JOB = {
    "apiVersion": "park.dev/v1alpha1",
    "kind": "ParkJob",
    "metadata": {"name": "urgent", "namespace": "default", "annotations": {"team": "ml"}},
    "spec": {"entrypoint": "python -c 'print(1)'", "priority": 100},
}
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class Server:
    """Holds the job as the API server stored it after `kubectl apply`; records writes."""

    def __init__(self) -> None:
        stored = json.loads(json.dumps(JOB))
        stored["metadata"]["annotations"][LAST_APPLIED] = json.dumps(JOB)
        stored["metadata"]["resourceVersion"] = "7"
        self.stored = stored
        self.writes: list[dict[str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=self.stored)
        body = json.loads(request.content)
        self.writes.append(body)
        return httpx.Response(200, json=body)


def test_the_same_yaml_is_unchanged_and_a_change_keeps_kubectls_annotation() -> None:
    server = Server()
    with ParkClient("http://park", "t", transport=httpx.MockTransport(server)) as client:
        assert client.apply(parse_resource(JOB)).action == "unchanged"
        assert server.writes == []
        changed = json.loads(json.dumps(JOB))
        changed["metadata"]["annotations"] = {"team": "research"}
        assert client.apply(parse_resource(changed)).action == "configured"
    (written,) = server.writes
    annotations = written["metadata"]["annotations"]  # type: ignore[index]
    assert annotations == {"team": "research", LAST_APPLIED: json.dumps(JOB)}


def test_only_kubernetes_own_annotations_are_kept() -> None:
    kept = kubernetes_owned(
        {LAST_APPLIED: "{}", "deployment.kubernetes.io/revision": "2", "team": "ml", "a/k8s.io": "x"}
    )
    assert kept == {LAST_APPLIED: "{}", "deployment.kubernetes.io/revision": "2"}
