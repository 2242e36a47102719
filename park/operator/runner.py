"""`park operator run`: on the replica holding the Lease, Park's scheduler loop and its controllers.

Everything runs in one asyncio loop, started when this replica takes the Lease and cancelled the moment
it loses it (another replica then takes over): one `SharedInformer` of Park's kinds, one `KubeRayCache`
of the KubeRay objects Park manages, the scheduler loop reading the informer's cache, and the ParkJob,
ParkCluster and ParkService controllers (park.operator.controllers). A standby replica only tries the
Lease every third of its duration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from park.control.controllers.informer import SharedInformer
from park.control.controllers.scheduling import WATCHED, SchedulerLoop
from park.control.costs import Layout
from park.control.scheduler import PolicyConfig
from park.core.clock import SystemClock
from park.operator.controllers import operator_controllers
from park.operator.leader import LeaseElector
from park.operator.settings import OperatorSettings
from park.operator.store import KubernetesStore
from park.substrates.kuberay_cache import KubeRayCache

logger = logging.getLogger(__name__)
RESTART_DELAY_S = 2.0
THREADS = 32
"""Threads for blocking API calls (`asyncio.to_thread`): reconciles and scheduler writes wait on the API
server, not the CPU, so many at once use its throughput (Python's default is the cores + 4)."""


def client_configuration(kubeconfig: Path | None) -> k8s.Configuration:
    """From `--kubeconfig`, else the pod's service account, else $KUBECONFIG / ~/.kube/config."""
    configuration = k8s.Configuration()
    if kubeconfig is not None:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration
        )
        return configuration
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


async def lead(store: KubernetesStore, api_client: k8s.ApiClient, settings: OperatorSettings) -> None:
    """What only the Lease holder runs, until cancelled."""
    informer = SharedInformer(store, WATCHED)
    kuberay = KubeRayCache(api_client)
    policy = PolicyConfig(
        min_runtime_s=settings.scheduler_min_runtime_seconds,
        aging_interval_s=settings.scheduler_aging_seconds,
    )
    controllers = operator_controllers(
        store=store, informer=informer, kuberay=kuberay, api_client=api_client, settings=settings
    )
    stop_kuberay = kuberay.start()
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(informer.run())
            group.create_task(
                _run_forever(
                    "the scheduler loop",
                    lambda: SchedulerLoop(
                        store=store,
                        clock=SystemClock(),
                        config=policy,
                        informer=informer,
                        layout=Layout.OWN_CLUSTER,
                    ).run(),
                )
            )
            for controller in controllers:
                group.create_task(_run_forever(f"the {controller.kind} controller", controller.run))
    finally:
        stop_kuberay()


async def _run_forever(what: str, run: Callable[[], Awaitable[None]]) -> None:
    """Restarted after an API hiccup rather than taking the operator down."""
    while True:
        try:
            await run()
        except Exception:
            logger.exception("%s failed; restarting it", what)
            await asyncio.sleep(RESTART_DELAY_S)


async def run_operator(*, kubeconfig: Path | None, settings: OperatorSettings | None = None) -> None:
    """Until SIGTERM (a rolling update, a scale-down) or cancellation (Ctrl-C): either stops the work and
    frees the Lease, so a standby takes over at once."""
    settings = settings or OperatorSettings()
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(THREADS, thread_name_prefix="park-api")
    )
    configuration = client_configuration(kubeconfig)
    configuration.connection_pool_maxsize = THREADS  # urllib3 keeps this many connections to the API server
    api_client = k8s.ApiClient(configuration)
    store = KubernetesStore(api_client)
    identity = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    elector = LeaseElector(
        api_client,
        namespace=settings.lease_namespace,
        name=settings.lease_name,
        identity=identity,
        duration_s=settings.lease_seconds,
    )
    leading = asyncio.create_task(elector.run_while_leader(lambda: lead(store, api_client, settings)))
    terminated = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    stopped = asyncio.create_task(terminated.wait())
    try:
        done, _ = await asyncio.wait([leading, stopped], return_when=asyncio.FIRST_COMPLETED)
        if leading in done:
            leading.result()
    finally:
        stopped.cancel()
        leading.cancel()
        await asyncio.gather(leading, stopped, return_exceptions=True)
        api_client.close()  # type: ignore[no-untyped-call]
