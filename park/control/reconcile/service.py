"""The ParkService decision: from the service, its cluster and what Serve reports, what to do next.

A service reaches Ray Serve only after the scheduler granted the replicas its spec asks for (the
`Admitted` condition, written by the scheduler loop). From then on Serve's own autoscaler moves each
deployment's target, this planner copies the targets into `status.deployments`, and the scheduler
grants or returns capacity for the difference at the service's priority: a traffic spike preempts
lower-priority training; quiet traffic gives the capacity back.

Serve's REST API is declarative per cluster, so deploying is one cluster-wide action
(`SyncServe`): the executor re-declares every admitted service of that cluster together.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from park.control.reconcile.actions import (
    Action,
    AddFinalizer,
    Plan,
    RecordEvent,
    RemoveFinalizer,
    SyncServe,
    WriteStatus,
)
from park.core.resources import ParkService, ParkServiceStatus, ServiceDeployment, ServicePhase
from park.substrates.interface import ClusterHandle, ServeApplicationState, ServeDeploymentState

SERVICE_FINALIZER = "park.dev/serve"
OBSERVE_EVERY_S = 2.0  # how often Serve's autoscaling targets are copied into the service's status
SERVE_DEFAULT_CPUS = 1.0
SERVING_PHASES = frozenset({"Deploying", "Running", "Unhealthy"})  # Serve has its applications: URLs listed
JOB_MODEL_PREFIX = "job:"  # what Serve reserves for a replica whose ray_actor_options name no num_cpus


def app_name(service: ParkService, app: dict[str, Any]) -> str:
    """The Serve application's name: unique across every service sharing the cluster."""
    return f"{service.metadata.namespace}.{service.metadata.name}.{app.get('name', 'app')}"


def route_prefix(service: ParkService, app: dict[str, Any]) -> str:
    """Every service routes under `/<namespace>/<service>`; the app's own prefix continues it."""
    base = f"/{service.metadata.namespace}/{service.metadata.name}"
    own = str(app.get("route_prefix", "/")).rstrip("/")
    return base + own


def model_jobs(service: ParkService) -> set[str]:
    """ParkJobs (same namespace) whose checkpoint an application serves: `args: {model: job:<name>}`."""
    names = set()
    for app in service.spec.applications:
        model = (app.get("args") or {}).get("model") if isinstance(app.get("args"), dict) else None
        if isinstance(model, str) and model.startswith(JOB_MODEL_PREFIX):
            names.add(model.removeprefix(JOB_MODEL_PREFIX))
    return names


def serve_applications(
    service: ParkService, checkpoints: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The service's entries of the cluster's Serve config, renamed, re-routed, `job:` models resolved.

    `checkpoints` maps job names to their `status.checkpoint`; an unresolved `job:` model stays as written
    (the planner keeps such a service `Pending`, and the executor leaves it out of Serve).
    """
    apps = []
    for app in service.spec.applications:
        entry = copy.deepcopy(app)
        entry["name"] = app_name(service, app)
        entry["route_prefix"] = route_prefix(service, app)
        args = entry.get("args")
        model = args.get("model") if isinstance(args, dict) else None
        if isinstance(args, dict) and isinstance(model, str) and model.startswith(JOB_MODEL_PREFIX):
            resolved = (checkpoints or {}).get(model.removeprefix(JOB_MODEL_PREFIX))
            if resolved:
                args["model"] = resolved
        apps.append(entry)
    return apps


def missing_models(service: ParkService, checkpoints: dict[str, str]) -> tuple[str, ...]:
    """`job:<name>` models whose job has no checkpoint yet: the service waits Pending, on both substrates."""
    return tuple(sorted(model_jobs(service) - checkpoints.keys()))


def waiting_for_models(missing: tuple[str, ...]) -> str:
    return f"waiting for ParkJob {', '.join(missing)} to write a checkpoint to serve"


def endpoints(service: ParkService, serve_url: str) -> list[str]:
    return [f"{serve_url}{route_prefix(service, app)}" for app in service.spec.applications]


def estimated_deployments(service: ParkService) -> list[ServiceDeployment]:
    """Before Serve reports: the replicas and per-replica resources the spec names for each deployment."""
    estimate = []
    for app in service.spec.applications:
        for dep in app.get("deployments", []):
            estimate.append(
                ServiceDeployment(
                    application=str(app.get("name", "app")),
                    name=str(dep["name"]),
                    target_replicas=_initial_replicas(dep),
                    replica_resources=_replica_resources(dep.get("ray_actor_options") or {}),
                )
            )
    return estimate


def observed_deployments(
    service: ParkService, apps: dict[str, ServeApplicationState]
) -> list[ServiceDeployment] | None:
    """What Serve reports for the service's applications; None until Serve knows all of them.

    A deployment reported without replica counts (KubeRay's copy of Serve's status, when Serve itself
    cannot be reached) keeps the numbers last written (Serve's, else the spec's estimate).
    """
    before = {d.key: d for d in (*estimated_deployments(service), *service.status.deployments)}
    observed = []
    for app in service.spec.applications:
        state = apps.get(app_name(service, app))
        if state is None or not state.deployments:
            return None
        for dep in state.deployments.values():
            application = str(app.get("name", "app"))
            observed.append(
                ServiceDeployment(
                    application=application,
                    name=dep.name,
                    status=dep.status,
                    message=cause(dep.message),
                    **_replica_numbers(dep, before.get(f"{application}/{dep.name}")),
                )
            )
    return observed


def _replica_numbers(dep: ServeDeploymentState, known: ServiceDeployment | None) -> dict[str, Any]:
    if dep.target_replicas is not None and dep.running_replicas is not None:
        return {
            "target_replicas": dep.target_replicas,
            "running_replicas": dep.running_replicas,
            "replica_resources": dep.replica_resources,
            "observed": True,
        }
    if known is None:
        return {}
    return {
        "target_replicas": known.target_replicas,
        "running_replicas": known.running_replicas,
        "replica_resources": known.replica_resources,
        "observed": known.observed,
    }


def is_admitted(service: ParkService) -> bool:
    """The scheduler granted the replicas the spec asks for once (the condition stays until deletion)."""
    admission = service.status.admission
    return admission is not None and admission.admitted_at is not None


@dataclass(frozen=True)
class ServiceObservation:
    cluster: ClusterHandle | None
    apps: dict[str, ServeApplicationState] = field(default_factory=dict)
    invalid: str | None = None
    """Why Serve would refuse the service's applications (checked against Serve's schema)."""
    missing_models: tuple[str, ...] = ()
    """`job:<name>` models whose job has no checkpoint yet."""


def plan_service(service: ParkService, observed: ServiceObservation, *, finalizer: bool = True) -> Plan:
    """`finalizer`: hold a deleted service until its applications left a shared cluster's Serve; not
    needed where the service's cluster is its own and owned by it (Kubernetes' garbage collector)."""
    status = service.status
    deleting = service.metadata.deletion_timestamp is not None
    if deleting:
        return _plan_deletion(service, observed)
    if finalizer and SERVICE_FINALIZER not in service.metadata.finalizers:
        return Plan((AddFinalizer(SERVICE_FINALIZER),), requeue_after=0)
    if observed.invalid is not None:
        failed: list[Action] = []
        if status.phase != "Failed" or status.message != observed.invalid:
            failed.append(RecordEvent("Warning", "InvalidApplication", observed.invalid))
        failed += _status(service, phase="Failed", message=observed.invalid)
        return Plan(tuple(failed))  # a spec change (new generation) reconciles it again
    if observed.missing_models:
        message = waiting_for_models(observed.missing_models)
        return Plan(_status(service, phase="Pending", message=message), requeue_after=OBSERVE_EVERY_S)
    if observed.cluster is None:
        message = f"waiting for ParkCluster {service.spec.cluster} to run"
        return Plan(_status(service, phase="Pending", message=message), requeue_after=OBSERVE_EVERY_S)
    if not is_admitted(service):
        estimate = estimated_deployments(service)
        admission = status.admission
        message = admission.message if admission and admission.message else "waiting for the scheduler"
        queued = _status(service, phase="Queued", message=message, deployments=estimate)
        return Plan(queued, requeue_after=OBSERVE_EVERY_S)
    deployments = observed_deployments(service, observed.apps)
    phase, message = _serve_phase(service, observed.apps)
    actions: list[Action] = [SyncServe()]
    if phase == "Running" and status.phase != "Running":
        actions.append(RecordEvent("Normal", "Running", f"serving at {', '.join(_urls(service, observed))}"))
    if phase == "Failed" and status.phase != "Failed":
        actions.append(RecordEvent("Warning", "DeployFailed", message))
    actions += _status(
        service,
        phase=phase,
        message=message,
        deployments=deployments if deployments is not None else status.deployments,
        endpoints=_urls(service, observed),
    )
    return Plan(tuple(actions), requeue_after=OBSERVE_EVERY_S)


def _plan_deletion(service: ParkService, observed: ServiceObservation) -> Plan:
    if SERVICE_FINALIZER not in service.metadata.finalizers:
        return Plan()
    ours = {app_name(service, app) for app in service.spec.applications}
    if observed.cluster is not None and ours & observed.apps.keys():
        removing = _status(service, phase="Deleting", message="removing its Serve applications")
        return Plan((SyncServe(), *removing), requeue_after=1.0)
    return Plan((RemoveFinalizer(SERVICE_FINALIZER),))


def _serve_phase(service: ParkService, apps: dict[str, ServeApplicationState]) -> tuple[ServicePhase, str]:
    states = [apps.get(app_name(service, app)) for app in service.spec.applications]
    if any(state is None for state in states):
        return "Deploying", "declaring its applications to Ray Serve"
    known = [state for state in states if state is not None]
    for state in known:
        if state.status == "DEPLOY_FAILED":
            return "Failed", f"application {state.name}: {_why(state) or 'deploy failed'}"
    for state in known:
        if state.status == "UNHEALTHY":
            return "Unhealthy", f"application {state.name}: {_why(state) or 'unhealthy'}"
    if all(state.status == "RUNNING" for state in known):
        return "Running", ""
    waiting = [s for s in known if s.status != "RUNNING"]
    return "Deploying", f"application {waiting[0].name} is {waiting[0].status.lower()}"


def _urls(service: ParkService, observed: ServiceObservation) -> list[str]:
    return endpoints(service, observed.cluster.serve_url) if observed.cluster is not None else []


def _status(
    service: ParkService,
    *,
    phase: ServicePhase,
    message: str,
    deployments: list[ServiceDeployment] | None = None,
    endpoints: list[str] | None = None,
) -> tuple[WriteStatus, ...]:
    update: dict[str, Any] = {
        "phase": phase,
        "message": message or None,
        "observed_generation": service.metadata.generation,
    }
    if deployments is not None:
        update["deployments"] = deployments
    if endpoints is not None:
        update["endpoints"] = endpoints
    if phase not in SERVING_PHASES:
        update["endpoints"] = []  # nothing answers there: a listed URL would only mislead
    status: ParkServiceStatus = service.status.model_copy(update=update)
    return (WriteStatus(status),) if status != service.status else ()


def _initial_replicas(deployment: dict[str, Any]) -> int:
    autoscaling = deployment.get("autoscaling_config")
    replicas = deployment.get("num_replicas")
    if isinstance(autoscaling, dict) or replicas == "auto":
        config = autoscaling if isinstance(autoscaling, dict) else {}
        initial = config.get("initial_replicas", config.get("min_replicas", 1))
        return int(initial) if isinstance(initial, int) else 1
    return int(replicas) if isinstance(replicas, int) else 1


def _replica_resources(options: dict[str, Any]) -> dict[str, float]:
    cpus = options.get("num_cpus", SERVE_DEFAULT_CPUS)
    amounts: dict[str, float] = {"cpu": float(cpus) if isinstance(cpus, int | float) else SERVE_DEFAULT_CPUS}
    gpus = options.get("num_gpus")
    if isinstance(gpus, int | float) and gpus:
        amounts["gpu"] = float(gpus)
    memory = options.get("memory")
    if isinstance(memory, int | float) and memory:
        amounts["memory"] = float(memory)
    for name, amount in (options.get("resources") or {}).items():
        if isinstance(amount, int | float) and amount:
            amounts[str(name)] = float(amount)
    return {name: amount for name, amount in amounts.items() if amount}


def _why(state: ServeApplicationState) -> str:
    """Why an application failed: its first failed deployment's cause (Serve's application message then
    only says which deployments failed), else the application's own (e.g. its import failed)."""
    for dep in state.deployments.values():
        if dep.status in ("DEPLOY_FAILED", "UNHEALTHY") and (found := cause(dep.message)):
            return f"deployment {dep.name}: {found}"
    return cause(state.message)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RAISED = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?P<rest>[A-Za-z_]\w*: .*)$")  # module.path.SomeError: text


def cause(text: str) -> str:
    """The one line that says why, out of a Serve message that may hold several chained tracebacks (kilobytes
    each): its last line, the exception, without its module path (`CheckpointFormatError: ...`)."""
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    raised = _RAISED.match(last)
    return (raised.group("rest") if raised else last)[:300]
