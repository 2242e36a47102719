"""`park up`: the store, the controllers, a local Ray head per ParkCluster, and the REST API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Generator

import uvicorn

from park.api import ApiContext, create_app
from park.control.controllers.clusters import ClusterReconciler
from park.control.controllers.jobs import JobReconciler
from park.control.controllers.runner import Controller
from park.control.controllers.scheduling import SchedulerLoop
from park.control.controllers.services import ServiceReconciler
from park.control.costs import Layout
from park.control.logs import JobLogs, LogArchive
from park.control.packages import PackageStore
from park.control.reconcile.cluster import cluster_key
from park.control.scheduler import PolicyConfig
from park.control.store.sqlite import SQLiteStore
from park.core.clock import Clock, SystemClock
from park.core.ports import listen_exclusively
from park.core.resources import ParkCluster
from park.core.settings import Settings
from park.embedded.defaults import ensure_defaults
from park.embedded.statedir import StateDirLock, ensure_admin_token, write_server_file
from park.federation.runtime import Federation, FederationSettings
from park.substrates.interface import Substrate
from park.substrates.local_ray import LocalRaySubstrate

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the platform decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Platform:
    def __init__(self, settings: Settings, *, substrate: Substrate | None = None, clock: Clock | None = None):
        self.settings = settings
        self._clock = clock or SystemClock()
        self._substrate = substrate
        self._stop = asyncio.Event()
        self.url: str | None = None
        self.store: SQLiteStore | None = None
        self.federation: Federation | None = None
        self.ready = False

    def stop(self) -> None:
        self._stop.set()

    async def run(self, *, on_ready: Callable[[str], None] | None = None) -> None:
        """Run until `stop()` or cancellation; then stop the API, the controllers and the Ray heads."""
        settings = self.settings
        lock = StateDirLock(settings.state_dir)
        lock.acquire()
        store = self.store = SQLiteStore(settings.database_file, clock=self._clock)
        try:
            substrate = self._substrate or LocalRaySubstrate(
                state_dir=settings.state_dir, start_timeout_s=settings.ray_start_timeout_seconds
            )
            ensure_defaults(store, cpus=settings.default_cluster_cpus)
            await self._serve(store, substrate, on_ready)
            await asyncio.to_thread(self._stop_clusters, store, substrate)
        finally:
            store.close()
            settings.server_file.unlink(missing_ok=True)
            lock.release()

    async def _serve(
        self, store: SQLiteStore, substrate: Substrate, on_ready: Callable[[str], None] | None
    ) -> None:
        settings = self.settings
        archive = LogArchive(settings.logs_dir)
        controllers = [
            Controller(
                store=store,
                reconciler=ClusterReconciler(
                    store=store,
                    substrate=substrate,
                    clock=self._clock,
                    check_every=settings.cluster_check_seconds,
                ),
                resync_seconds=settings.resync_seconds,
                workers=2,
            ),
            Controller(
                store=store,
                reconciler=JobReconciler(
                    store=store,
                    substrate=substrate,
                    archive=archive,
                    clock=self._clock,
                    jobs_root=settings.jobs_dir,
                    federation_env=self._federation_env,
                ),
                resync_seconds=settings.resync_seconds,
                workers=4,
            ),
            Controller(
                store=store,
                reconciler=ServiceReconciler(store=store, substrate=substrate),
                resync_seconds=settings.resync_seconds,
                workers=2,
            ),
        ]
        token = ensure_admin_token(settings.token_file)
        logs = JobLogs(store=store, substrate=substrate, archive=archive)
        # The API's port first: a port in use stops `park up` before anything has started.
        hint = "choose another with --port N, or --port 0 for a free one"
        with listen_exclusively(settings.host, settings.port, what="API port", hint=hint) as sock:
            federation = self.federation = self._federation(store)
            if federation is not None:
                await federation.start()
            try:
                context = ApiContext(
                    store=store,
                    logs=logs,
                    token=token,
                    ready=lambda: self.ready,
                    federation=federation,
                    packages=PackageStore(settings.packages_dir),
                )
                await self._serve_api(store, controllers, context, sock, on_ready)
            finally:
                if federation is not None:
                    await federation.stop()

    def _federation_env(self) -> dict[str, str]:
        """What a federated job needs to reach the federation: this API and its token (the job runs on
        this machine as this user, who can read the token file anyway)."""
        if self.url is None or not self.settings.federation_enabled:
            return {}
        token = self.settings.token_file.read_text().strip()
        return {"PARK_FEDERATION_API": self.url, "PARK_FEDERATION_TOKEN": token}

    def _federation(self, store: SQLiteStore) -> Federation | None:
        if not self.settings.federation_enabled:
            return None
        return Federation(store, FederationSettings.from_settings(self.settings), clock=self._clock)

    async def _serve_api(
        self,
        store: SQLiteStore,
        controllers: list[Controller],
        context: ApiContext,
        sock: socket.socket,
        on_ready: Callable[[str], None] | None,
    ) -> None:
        settings = self.settings
        port = sock.getsockname()[1]
        self.url = f"http://{settings.host}:{port}"
        server = _Server(uvicorn.Config(create_app(context), log_level="warning", lifespan="off"))
        policy = PolicyConfig(
            min_runtime_s=settings.scheduler_min_runtime_seconds,
            aging_interval_s=settings.scheduler_aging_seconds,
        )
        scheduler = SchedulerLoop(store=store, clock=self._clock, config=policy, layout=Layout.SHARED_HEAD)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c.run()) for c in controllers]
            tasks.append(group.create_task(scheduler.run()))
            tasks.append(group.create_task(server.serve(sockets=[sock])))
            await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in controllers)), 30)
            while not server.started:
                await asyncio.sleep(0.02)
            write_server_file(settings.server_file, self.url)
            self.ready = True
            if on_ready is not None:
                on_ready(self.url)
            await self._stop.wait()
            self.ready = False
            server.should_exit = True
            for task in tasks[:-1]:
                task.cancel()

    def _stop_clusters(self, store: SQLiteStore, substrate: Substrate) -> None:
        """A clean stop takes the Ray heads down too; their ParkClusters say so until the next start."""
        for cluster in store.list("ParkCluster").items:
            assert isinstance(cluster, ParkCluster)
            substrate.stop_cluster(cluster_key(cluster.metadata.namespace, cluster.metadata.name))
            status = cluster.status.model_copy(
                update={"phase": "Pending", "message": "stopped with the platform"}
            )
            store.update_status(cluster.model_copy(update={"status": status}))
            store.record_event(
                cluster, type="Normal", reason="Stopped", message="Ray head stopped with the platform"
            )
