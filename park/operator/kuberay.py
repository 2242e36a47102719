"""ParkService → RayService: its Serve applications, named and routed as on `park up` (which needs the
control plane's view of a service, so it lives here rather than in park.substrates.kuberay_specs).
"""

from __future__ import annotations

from typing import Any

import yaml

from park.control.reconcile.service import serve_applications
from park.core.resources import ParkClusterSpec, ParkService, PodTemplate
from park.substrates.kuberay_specs import ray_cluster_spec


def serve_config(service: ParkService, checkpoints: dict[str, str] | None = None) -> str:
    """`serveConfigV2`: the service's Serve applications, named and routed as in embedded mode, with
    `job:<name>` models resolved to `checkpoints` (the jobs' `status.checkpoint`) as on `park up`."""
    return yaml.safe_dump({"applications": serve_applications(service, checkpoints)}, sort_keys=False)


def ray_service_spec(
    service: ParkService,
    *,
    cluster: ParkClusterSpec,
    pods: PodTemplate,
    ray_version: str,
    checkpoints: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "serveConfigV2": serve_config(service, checkpoints),
        "rayClusterConfig": ray_cluster_spec(cluster, pods=pods, ray_version=ray_version),
    }
