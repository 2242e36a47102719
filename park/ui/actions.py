"""What the console's actions do to the platform: suspend, resume, delete, scale and revoke, via the client.

`scaled` is pure (spec in, spec out) so its rules are tested without a server; the rest are thin calls
that retry on write conflicts, because controllers write the same objects all the time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from park.client import ParkClient
from park.core.errors import ConflictError, InvalidError
from park.core.resources import AnyResource, ParkService


@dataclass(frozen=True)
class Deployment:
    """A Serve deployment of a service, as the scale dialog offers it."""

    application: str
    name: str
    replicas: int | None  # the spec's num_replicas; None when autoscaled or not pinned in the spec

    @property
    def label(self) -> str:
        now = "auto" if self.replicas is None else str(self.replicas)
        return f"{self.application}/{self.name} ({now})"


def deployments(service: ParkService) -> list[Deployment]:
    """Every deployment the spec names, then those only Serve reports (the spec may leave them implicit)."""
    found: dict[tuple[str, str], Deployment] = {}
    for app in service.spec.applications:
        for entry in app.get("deployments") or []:
            replicas = entry.get("num_replicas")
            pinned = replicas if isinstance(replicas, int) else None
            found[(app["name"], entry["name"])] = Deployment(app["name"], entry["name"], pinned)
    for observed in service.status.deployments:
        found.setdefault(
            (observed.application, observed.name), Deployment(observed.application, observed.name, None)
        )
    return list(found.values())


def scaled(service: ParkService, *, application: str, deployment: str, replicas: int) -> ParkService:
    """The service with `num_replicas` of one deployment set, as `kubectl scale` pins a count.

    Ray Serve refuses `num_replicas` next to `autoscaling_config`, so pinning a count replaces the
    deployment's autoscaling; a deployment the spec did not list yet is added to its application.
    """
    if replicas < 0:
        raise InvalidError("replicas must be 0 or more")
    applications: list[dict[str, Any]] = copy.deepcopy(service.spec.applications)
    app = next((a for a in applications if a.get("name") == application), None)
    if app is None:
        raise InvalidError(f"{service.key.name} has no application {application!r}")
    entries: list[dict[str, Any]] = app.setdefault("deployments", [])
    entry = next((d for d in entries if d.get("name") == deployment), None)
    if entry is None:
        entry = {"name": deployment}
        entries.append(entry)
    entry.pop("autoscaling_config", None)
    entry["num_replicas"] = replicas
    spec = service.spec.model_copy(update={"applications": applications})
    return service.model_copy(update={"spec": spec})


def scale(
    client: ParkClient, namespace: str, name: str, *, application: str, deployment: str, replicas: int
) -> None:
    for _ in range(5):
        service = client.get("ParkService", namespace, name)
        assert isinstance(service, ParkService)
        try:
            client.update(scaled(service, application=application, deployment=deployment, replicas=replicas))
        except ConflictError:
            continue
        return
    raise ConflictError(f"ParkService {namespace}/{name} kept changing; try again")


def suspend(client: ParkClient, obj: AnyResource, *, suspend: bool) -> None:
    client.set_suspend(obj.metadata.namespace or "default", obj.metadata.name, suspend=suspend)


def revoke(client: ParkClient, node: AnyResource) -> None:
    """Through the gateway's own route, which also records who revoked it (an event on the node)."""
    client.revoke_node(node.metadata.name)


def delete(client: ParkClient, obj: AnyResource) -> None:
    client.delete(obj.kind, obj.metadata.namespace, obj.metadata.name)
