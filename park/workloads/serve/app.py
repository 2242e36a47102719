"""The serving app's entry point for a Serve config: `import_path: park.workloads.serve.app:build`.

`args` are `ServeArgs` (args.py). The deployments have fixed names, so a Serve config (a ParkService's
`applications[].deployments`) can override num_replicas, autoscaling_config, max_ongoing_requests,
ray_actor_options or request_router_config per deployment:

| mode | deployments |
| --- | --- |
| disaggregated | `ingress` → `prefill` (routed by `router`) → `decode` (KV cache through the object store) |
| monolithic | `ingress` → `monolithic` (routed by `router`) |
| moe | `ingress` → `moe` (routed by `router`) → `expert-0` … `expert-<n_expert-1>` |

Model replicas reserve `torch_threads` CPUs; the ingress reserves none (it waits on the network,
like Serve's own proxy); an expert half a CPU (one MLP per call).
"""

from __future__ import annotations

from typing import Any

from ray import serve

from park.workloads.models.charlm import CharLMConfig, read_meta
from park.workloads.serve.args import Router, ServeArgs
from park.workloads.serve.deployments import DecodeServer, MoEServer, MonolithicServer, PrefillServer
from park.workloads.serve.experts import ExpertServer
from park.workloads.serve.ingress import Ingress
from park.workloads.serve.routing import POWER_OF_TWO_ROUTER, PREFIX_ROUTER, ROUND_ROBIN_ROUTER

ROUTERS: dict[Router, str] = {
    "prefix": PREFIX_ROUTER,
    "round_robin": ROUND_ROBIN_ROUTER,
    "power_of_two": POWER_OF_TWO_ROUTER,
}
INGRESS_MAX_ONGOING = 1024
PREFILL_MAX_ONGOING = 64


def build(args: dict[str, Any]) -> Any:
    """Serve's application builder: validates `args` (a `ValueError` naming the field) and binds the app."""
    return build_app(ServeArgs.model_validate(args))


def build_app(args: ServeArgs) -> Any:
    """The bound `Application` (typed Any: Ray ships no type information)."""
    if args.mode == "disaggregated":
        prefill = _model_deployment(
            PrefillServer, "prefill", args, routed=True, max_ongoing=PREFILL_MAX_ONGOING
        )
        decode = _model_deployment(DecodeServer, "decode", args, routed=False)
        return _ingress(args).bind(args, decode.bind(args), prefill.bind(args))
    if args.mode == "monolithic":
        monolithic = _model_deployment(MonolithicServer, "monolithic", args, routed=True)
        return _ingress(args).bind(args, monolithic.bind(args))
    experts = [_expert(args, index).bind(args, index) for index in range(_n_expert(args))]
    moe = _model_deployment(MoEServer, "moe", args, routed=True)
    return _ingress(args).bind(args, moe.bind(args, experts))


def _ingress(args: ServeArgs) -> Any:
    return serve.deployment(
        Ingress,
        name="ingress",
        num_replicas=args.replicas("ingress"),
        max_ongoing_requests=INGRESS_MAX_ONGOING,
        ray_actor_options={"num_cpus": 0},
    )


def _model_deployment(
    cls: type, name: str, args: ServeArgs, *, routed: bool, max_ongoing: int | None = None
) -> Any:
    """A replica with an engine; `routed`: the ingress picks among its replicas with `args.router`."""
    options: dict[str, Any] = {}
    if routed:
        kwargs = (
            {"block_tokens": args.prefix_block_tokens, "imbalance_threshold": args.imbalance_threshold}
            if args.router == "prefix"
            else {}
        )
        options["request_router_config"] = {
            "request_router_class": ROUTERS[args.router],
            "request_router_kwargs": kwargs,
        }
    return serve.deployment(
        cls,
        name=name,
        num_replicas=args.replicas(name),
        # A decode replica's queue is its continuous batch (and those waiting to join it).
        max_ongoing_requests=max_ongoing or 2 * args.max_batch_size,
        ray_actor_options={"num_cpus": args.torch_threads},
        **options,
    )


def _expert(args: ServeArgs, index: int) -> Any:
    name = f"expert-{index}"
    return serve.deployment(
        ExpertServer,
        name=name,
        num_replicas=args.replicas(name),
        max_ongoing_requests=64,
        ray_actor_options={"num_cpus": 0.5},
    )


def _n_expert(args: ServeArgs) -> int:
    n_expert = CharLMConfig.from_dict(read_meta(args.model_dir)["config"]).n_expert
    if not n_expert:
        raise ValueError(f"mode 'moe' needs a mixture-of-experts model; {args.model} is dense (n_expert 0)")
    return n_expert
