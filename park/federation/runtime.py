"""The federation as the platform runs it: gateway key, work database, mesh thread, and the operations
the REST API offers (invite, revoke, submit work, read work). Used by `park up` and `park operator api`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from park.control.store import Store
from park.core.clock import Clock
from park.core.errors import InvalidError, NotFoundError
from park.core.resources import FederatedNode, NodeCapabilities
from park.core.settings import Settings
from park.federation.apps import known_apps
from park.federation.gateway import GatewayCore, GatewayPolicy
from park.federation.identity import Identity
from park.federation.invites import invite
from park.federation.mesh import Mesh
from park.federation.service import GatewayService, GatewayThread
from park.federation.verification.engine import Task, TaskState, VerificationPolicy, Verifier
from park.federation.verification.ledger import Ledger
from park.federation.verification.trust import TrustBook
from park.federation.verification.types import work_types
from park.federation.work import WorkQueue, WorkState, WorkUnit


@dataclass(frozen=True)
class FederationSettings:
    directory: Path
    host: str = "127.0.0.1"
    port: int = 8471
    policy: GatewayPolicy = field(default_factory=GatewayPolicy)
    announce: list[str] = field(default_factory=list)  # addresses to put in tokens instead of the bound ones
    verification: VerificationPolicy = field(default_factory=VerificationPolicy)

    @property
    def key_file(self) -> Path:
        return self.directory / "gateway.key"

    @property
    def database_file(self) -> Path:
        return self.directory / "federation.db"

    @classmethod
    def from_settings(cls, settings: Settings, *, directory: Path | None = None) -> FederationSettings:
        """The gateway the `PARK_FEDERATION_*` settings describe, for `park up` and `park operator api`
        alike; `directory` replaces `<state dir>/federation` (a volume of its own on Kubernetes)."""
        policy = GatewayPolicy(
            heartbeat_s=settings.federation_heartbeat_seconds,
            lease_s=settings.federation_lease_seconds,
            offline_after_s=settings.federation_offline_after_seconds,
        )
        return cls(
            directory=directory or settings.federation_dir,
            host=settings.federation_host,
            port=settings.federation_port,
            policy=policy,
            announce=list(settings.federation_announce),
        )


class Federation:
    """One gateway: start it, stop it, and the platform-side operations on it."""

    def __init__(self, store: Store, settings: FederationSettings, *, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.authority = Identity.load_or_create(settings.key_file)
        self.queue = WorkQueue(settings.database_file, default_lease_s=settings.policy.lease_s)
        self.core = GatewayCore(
            store=store, queue=self.queue, authority=self.authority, clock=clock, policy=settings.policy
        )
        self.ledger = Ledger(self.queue.db, self.queue.lock, self.authority)
        self.verifier = self.core.verifier = Verifier(
            self.queue,
            trust=TrustBook(self.queue.db, self.queue.lock, trust_after=settings.verification.trust_after),
            ledger=self.ledger,
            types=work_types(),
            policy=settings.verification,
            online=self.core.online,
            on_revoke=self.core.revoke,
            on_credit=self.core.credit,
            node_name=self.core.node_name,
        )
        mesh = Mesh(self.authority, listen=[f"/ip4/{settings.host}/tcp/{settings.port}"])
        self.thread = GatewayThread(GatewayService(self.core, mesh))
        self.addrs: list[str] = []

    async def start(self) -> list[str]:
        self.addrs = await self.thread.start()
        return self.addrs

    async def stop(self) -> None:
        await self.thread.stop()
        self.queue.close()

    @property
    def bootstrap(self) -> list[str]:
        return [f"{a.rstrip('/')}/p2p/{self.authority.peer_id}" for a in self.settings.announce] or self.addrs

    # ------------------------------------------------------------ what the API offers

    def info(self) -> dict[str, Any]:
        sessions = self.core.sessions()
        return {
            "peerId": self.authority.peer_id,
            "addrs": self.bootstrap,
            "running": self.thread.alive,
            "online": len(sessions),
            "work": self.queue.counts(),
            "apps": known_apps(),
            "verifiedApps": sorted(self.verifier.types),
            "verification": {
                "mode": self.settings.verification.mode,
                "useful": self.verifier.tally.useful,
                "extra": self.verifier.tally.extra,
                "validations": self.verifier.tally.validations,
                "valid": self.verifier.tally.valid,
                "invalid": self.verifier.tally.invalid,
            },
        }

    def invite(
        self, *, name: str, peer_id: str, capabilities: NodeCapabilities, ttl_s: float
    ) -> tuple[str, FederatedNode]:
        return invite(
            self.store,
            self.authority,
            name=name,
            peer_id=peer_id,
            capabilities=capabilities,
            ttl_s=ttl_s,
            bootstrap=self.bootstrap,
            now=time.time(),
        )

    def revoke(self, name: str) -> FederatedNode:
        obj = self.store.get("FederatedNode", None, name)
        assert isinstance(obj, FederatedNode)
        if not obj.spec.revoked:
            obj = self.store.update(
                obj.model_copy(update={"spec": obj.spec.model_copy(update={"revoked": True})})
            )
            self.store.record_event(
                obj, type="Warning", reason="Revoking", message="revoked by an administrator"
            )
        assert isinstance(obj, FederatedNode)
        return obj

    def submit(
        self, *, app: str, payload: dict[str, Any], needs: NodeCapabilities | None, max_attempts: int
    ) -> WorkUnit:
        if app not in known_apps():
            raise InvalidError(f"unknown app {app!r}; nodes run: {', '.join(known_apps())}")
        return self.queue.submit(
            app, payload, now=self.clock.now().timestamp(), needs=needs, max_attempts=max_attempts
        )

    def submit_task(self, *, app: str, payload: dict[str, Any], needs: NodeCapabilities | None) -> Task:
        return self.verifier.submit(app, payload, now=self.clock.now().timestamp(), needs=needs)

    def task(self, task_id: str) -> Task:
        return self.verifier.task(task_id)

    def tasks(self, *, state: TaskState | None, limit: int) -> list[Task]:
        return self.verifier.tasks(state=state, limit=limit)

    def ledger_of(self, name: str, *, since: int) -> dict[str, Any]:
        """A node's signed credit entries: what `park node credits` verifies offline."""
        obj = self.store.get("FederatedNode", None, name)
        assert isinstance(obj, FederatedNode)
        entries = self.ledger.entries(obj.spec.peer_id, since=since, limit=10_000)
        return {
            "node": name,
            "peerId": obj.spec.peer_id,
            "gateway": self.authority.peer_id,
            "balance": self.ledger.balance(obj.spec.peer_id),
            "entries": [e.to_dict() for e in entries],
        }

    def work(self, work_id: str) -> WorkUnit:
        return self.queue.get(work_id)

    def works(self, *, state: WorkState | None, limit: int) -> list[WorkUnit]:
        return self.queue.units(state=state, limit=limit)

    def shown(self, units: list[WorkUnit]) -> list[dict[str, Any]]:
        """Units as the API shows them: with `node`, the name of the node that holds or did each one."""
        names = {
            obj.spec.peer_id: obj.metadata.name
            for obj in self.store.list("FederatedNode").items
            if isinstance(obj, FederatedNode)
        }
        return [{**unit.to_dict(), "node": names.get(unit.completed_by or unit.peer or "")} for unit in units]


def not_enabled() -> NotFoundError:
    return NotFoundError("this platform runs no federation gateway (PARK_FEDERATION_ENABLED=false)")
