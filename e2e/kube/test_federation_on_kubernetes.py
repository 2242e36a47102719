"""The federation gateway over `KubernetesStore`: a node invited through the REST API joins over
py-libp2p, shows up in `kubectl get federatednodes`, runs work, and `kubectl patch` revokes it."""

from __future__ import annotations

import asyncio
import gc
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from fastapi.testclient import TestClient
from kubernetes import client as k8s

from e2e.kube.conftest import kubectl
from park.api.app import create_app
from park.api.deps import ApiContext
from park.core.clock import SystemClock
from park.federation.config import NodeConfig, NodePaths
from park.federation.gateway import GatewayPolicy
from park.federation.identity import Identity
from park.federation.node import EXIT_REVOKED, NodeDaemon
from park.federation.runtime import Federation, FederationSettings
from park.operator.jobs import kubernetes_job_logs
from park.operator.settings import OperatorSettings
from park.operator.store import KubernetesStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    # py-libp2p 0.8.1 leaves a cancelled host's TCP sockets to the garbage collector.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
TOKEN = "e2e-token"  # noqa: S105 - a test's own bearer token


@pytest.fixture(autouse=True)
def _collect_libp2p_sockets() -> Iterator[None]:
    """Collect the hosts' sockets at teardown, under this module's filters: only then is the test's frame
    (which still refers to the daemon and the gateway) gone, so the sockets are garbage. A collection
    inside the test left some for a later one, which failed the session on its ResourceWarning."""
    yield
    gc.collect()


def test_a_node_joins_the_gateway_on_kubernetes(
    api_client: k8s.ApiClient, kubeconfig: Path, tmp_path: Path
) -> None:
    store = KubernetesStore(api_client)
    policy = GatewayPolicy(
        heartbeat_s=0.5, lease_s=5, offline_after_s=5, idle_retry_s=0.2, last_seen_write_s=1
    )
    federation = Federation(
        store, FederationSettings(directory=tmp_path / "gateway", port=0, policy=policy), clock=SystemClock()
    )
    loop = asyncio.new_event_loop()
    loop.run_until_complete(federation.start())
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    try:
        context = ApiContext(
            store=store,
            logs=kubernetes_job_logs(store=store, api_client=api_client, settings=OperatorSettings()),
            token=TOKEN,
            ready=lambda: True,
            federation=federation,
        )
        identity = Identity.generate()
        with TestClient(create_app(context), headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            reply = api.post("/v1/federation/invites", json={"name": name, "peerId": identity.peer_id})
            assert reply.status_code == 201, reply.text
            token = reply.json()["token"]
        paths = NodePaths(tmp_path / "node")
        identity.save(paths.key)
        paths.save_config(NodeConfig(token=token, run_as="self", isolate_network=False))
        daemon = NodeDaemon(paths, handle_signals=False)

        def phase() -> str:
            return kubectl(kubeconfig, "get", "federatednode", name, "-o", "jsonpath={.status.phase}").stdout

        async def main() -> int:
            async with trio.open_nursery() as nursery:
                result: dict[str, int] = {}

                async def run() -> None:
                    result["code"] = await daemon.run()

                nursery.start_soon(run)
                await _until(lambda: phase() == "Online", what="Online in kubectl")
                unit = federation.submit(
                    app="sha256-chain", payload={"seed": "k", "rounds": 10}, needs=None, max_attempts=3
                )
                await _until(lambda: federation.work(unit.id).state == "done", what="the unit done")
                listing = kubectl(kubeconfig, "get", "federatednodes", name).stdout
                assert "Online" in listing, listing
                patch = json.dumps({"spec": {"revoked": True}})
                kubectl(kubeconfig, "patch", "federatednode", name, "--type=merge", "-p", patch)
                await _until(lambda: "code" in result, what="the node to be revoked")
                return result["code"]

        started = time.monotonic()
        assert trio.run(main) == EXIT_REVOKED
        assert time.monotonic() - started < 120
        status = json.loads(kubectl(kubeconfig, "get", "federatednode", name, "-o", "json").stdout)["status"]
        assert status["work"]["completed"] == 1
    finally:
        loop.run_until_complete(federation.stop())
        loop.close()
        kubectl(kubeconfig, "delete", "federatednode", name, "--ignore-not-found", check=False)


async def _until(predicate: object, *, what: str, timeout: float = 60) -> None:
    deadline = trio.current_time() + timeout
    while not await trio.to_thread.run_sync(predicate):  # type: ignore[arg-type]
        if trio.current_time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await trio.sleep(0.2)
