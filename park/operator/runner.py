"""`park operator run`: kopf's handlers and, on the replica holding the Lease, Park's scheduler loop
and the ParkJob controller.

All live in one asyncio loop: kopf watches and reconciles ParkClusters and ParkServices (sync handlers
run in its thread pool); the scheduler writes admissions through `KubernetesStore`; the ParkJob
controller is the one `park up` runs (park.control.controllers.jobs: the same planner, attempts,
reports, checkpoints and gates) over the KubeRay job substrate (park.substrates.kuberay_jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import kopf
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from park.control.controllers.scheduling import SchedulerLoop
from park.control.costs import Layout
from park.control.scheduler import PolicyConfig
from park.core.clock import SystemClock
from park.core.meta import API_GROUP
from park.operator.handlers import build_registry
from park.operator.jobs import job_controller
from park.operator.leader import LeaseElector
from park.operator.reconcilers import Reconcilers
from park.operator.settings import OperatorSettings
from park.operator.store import KubernetesStore
from park.substrates.kuberay_objects import KubeRayObjects

logger = logging.getLogger(__name__)
RESTART_DELAY_S = 2.0


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


def connection_info(configuration: k8s.Configuration) -> kopf.ConnectionInfo:
    """kopf logs in with exactly the credentials the Kubernetes client resolved (certs or a token)."""
    authorization = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get(
        "BearerToken"
    )
    scheme, _, token = (authorization or "").partition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def kopf_settings(settings: kopf.OperatorSettings, *, peering_lifetime_s: int = 60) -> kopf.OperatorSettings:
    """Handler progress in `park.dev/*` annotations (Park's status schema has no room for kopf's)."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = 8
    settings.watching.server_timeout = 120
    settings.peering.lifetime = peering_lifetime_s
    return settings


async def _lead(store: KubernetesStore, api_client: k8s.ApiClient, settings: OperatorSettings) -> None:
    """What only the Lease holder runs: the scheduler loop and the ParkJob controller."""
    policy = PolicyConfig(
        min_runtime_s=settings.scheduler_min_runtime_seconds,
        aging_interval_s=settings.scheduler_aging_seconds,
    )
    async with asyncio.TaskGroup() as group:
        group.create_task(
            _run_forever(
                "the scheduler loop",
                lambda: SchedulerLoop(
                    store=store, clock=SystemClock(), config=policy, layout=Layout.OWN_CLUSTER
                ).run(),
            )
        )
        group.create_task(
            _run_forever("the ParkJob controller", lambda: job_controller(store, api_client, settings).run())
        )


async def _run_forever(what: str, run: Callable[[], Awaitable[None]]) -> None:
    """Restarted after an API hiccup rather than taking the operator down."""
    while True:
        try:
            await run()
        except Exception:
            logger.exception("%s failed; restarting it", what)
            await asyncio.sleep(RESTART_DELAY_S)


async def run_operator(
    *,
    kubeconfig: Path | None,
    namespace: str | None,
    peering: str | None = None,
    settings: OperatorSettings | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    settings = settings or OperatorSettings()
    configuration = client_configuration(kubeconfig)
    api_client = k8s.ApiClient(configuration)
    store = KubernetesStore(api_client)
    reconcilers = Reconcilers(
        store=store, children=KubeRayObjects(api_client), settings=settings, clock=SystemClock()
    )
    registry = build_registry(reconcilers, resync_seconds=settings.resync_seconds)

    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(configuration)

    kopf.on.login(registry=registry)(login)
    identity = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    elector = LeaseElector(
        api_client,
        namespace=settings.lease_namespace,
        name=settings.lease_name,
        identity=identity,
        duration_s=settings.lease_seconds,
    )
    scheduler = asyncio.create_task(elector.run_while_leader(lambda: _lead(store, api_client, settings)))
    try:
        await kopf.operator(
            registry=registry,
            settings=kopf_settings(
                kopf.OperatorSettings(), peering_lifetime_s=settings.peering_lifetime_seconds
            ),
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else (),
            standalone=peering is None,
            peering_name=peering,
            # Replicas in one peering need distinct priorities: the highest works, the others stand by.
            priority=random.randint(1, 1_000_000) if peering else None,
            stop_flag=stop,
        )
    finally:
        scheduler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scheduler
        api_client.close()  # type: ignore[no-untyped-call]
