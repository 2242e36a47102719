"""A real gateway (its own trio thread, SQLite store) and real node daemons, all on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from park.control.store.sqlite import SQLiteStore
from park.core.clock import SystemClock
from park.core.resources import FederatedNode, NodeCapabilities
from park.federation.config import NodeConfig, NodePaths
from park.federation.gateway import GatewayCore, GatewayPolicy
from park.federation.identity import Identity
from park.federation.invites import invite
from park.federation.runtime import Federation, FederationSettings
from park.federation.verification.engine import VerificationPolicy
from park.federation.work import WorkQueue

FAST = GatewayPolicy(
    heartbeat_s=0.5, lease_s=3.0, offline_after_s=4.0, idle_retry_s=0.2, last_seen_write_s=1.0
)


@dataclass
class Gateway:
    store: SQLiteStore
    queue: WorkQueue
    core: GatewayCore
    authority: Identity
    addrs: list[str]
    root: Path
    federation: Federation

    def node(self, name: str, **config: object) -> NodePaths:
        """A node directory with a fresh key, a config and a valid token for this gateway."""
        identity = Identity.generate()
        paths = NodePaths(self.root / "nodes" / name)
        identity.save(paths.key)
        caps = NodeCapabilities(cpus=1, memory_gib=1, apps=["sha256-chain", "probe"])
        token, _ = invite(
            self.store,
            self.authority,
            name=name,
            peer_id=identity.peer_id,
            capabilities=caps,
            ttl_s=600,
            bootstrap=self.addrs,
            now=time.time(),
        )
        base = {"token": token, "caps": caps.to_dict(), "runAs": "self", "isolateNetwork": False}
        paths.save_config(NodeConfig.model_validate({**base, **config}))
        return paths

    def phase(self, name: str) -> str | None:
        obj = self.store.get("FederatedNode", None, name)
        assert isinstance(obj, FederatedNode)
        return obj.status.phase

    def get(self, name: str) -> FederatedNode:
        obj = self.store.get("FederatedNode", None, name)
        assert isinstance(obj, FederatedNode)
        return obj


@contextmanager
def running_gateway(
    root: Path, policy: GatewayPolicy = FAST, verification: VerificationPolicy | None = None
) -> Iterator[Gateway]:
    """The platform's own `Federation` (gateway, work queue, verifier) on a free loopback port."""
    store = SQLiteStore(root / "park.db", clock=SystemClock())
    settings = FederationSettings(
        directory=root / "gateway", port=0, policy=policy, verification=verification or VerificationPolicy()
    )
    federation = Federation(store, settings, clock=SystemClock())
    federation.thread.service.tick_s = 0.2
    federation.thread.service.revocations_every_s = 1.0
    loop = asyncio.new_event_loop()
    try:
        addrs = loop.run_until_complete(federation.start())
        yield Gateway(
            store=store, queue=federation.queue, core=federation.core, authority=federation.authority,
            addrs=addrs, root=root, federation=federation,
        )  # fmt: skip
    finally:
        loop.run_until_complete(federation.stop())
        loop.close()
        store.close()


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
