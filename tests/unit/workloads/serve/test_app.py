"""The app builder as Serve's config path calls it: fixed deployment names, routers, replica defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
from ray.serve._private.build_app import build_app

from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab, save_charlm
from park.workloads.serve.app import build


def _deployments(args: dict[str, Any]) -> dict[str, Any]:
    """What Serve deploys for `import_path: park.workloads.serve.app:build` with these `args`."""
    built = build_app(call_user_app_builder_with_args_if_necessary(build, args), name="llm")
    assert built.ingress_deployment_name == "ingress"
    return {deployment.name: deployment for deployment in built.deployments}


def _router(deployment: Any) -> str:
    return str(deployment._deployment_config.request_router_config.request_router_class)


def test_disaggregated_app_routes_prefills_by_prefix() -> None:
    deployments = _deployments(
        {"model": "/models/m", "num_replicas": {"prefill": 2}, "imbalance_threshold": 7}
    )
    assert set(deployments) == {"ingress", "prefill", "decode"}
    prefill = deployments["prefill"]
    assert prefill.num_replicas == 2 and deployments["decode"].num_replicas == 1
    assert _router(prefill) == "park.workloads.serve.routing:PrefixAwareRouter"
    assert prefill._deployment_config.request_router_config.request_router_kwargs == {
        "block_tokens": 16,
        "imbalance_threshold": 7,
    }
    assert deployments["decode"].max_ongoing_requests == 32  # twice the continuous batch
    assert deployments["ingress"].ray_actor_options == {"num_cpus": 0}


def test_monolithic_app_takes_the_chosen_router() -> None:
    deployments = _deployments({"model": "/models/m", "mode": "monolithic", "router": "round_robin"})
    assert set(deployments) == {"ingress", "monolithic"}
    assert _router(deployments["monolithic"]) == "park.workloads.serve.routing:RoundRobinRouter"


def test_moe_app_has_one_deployment_per_expert(tmp_path: Path) -> None:
    vocab = CharVocab("abc ")
    config = CharLMConfig(vocab_size=len(vocab), d_model=16, n_head=2, n_expert=3, expert_top_k=2)
    save_charlm(tmp_path / "moe", CharLM(config), vocab)
    save_charlm(tmp_path / "dense", CharLM(CharLMConfig(vocab_size=len(vocab), d_model=16, n_head=2)), vocab)
    deployments = _deployments(
        {"model": str(tmp_path / "moe"), "mode": "moe", "num_replicas": {"expert-1": 2}}
    )
    assert set(deployments) == {"ingress", "moe", "expert-0", "expert-1", "expert-2"}
    assert deployments["expert-1"].num_replicas == 2
    with pytest.raises(ValueError, match="dense"):
        _deployments({"model": str(tmp_path / "dense"), "mode": "moe"})


def test_bad_args_fail_at_build_time_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="router"):
        _deployments({"model": "/models/m", "router": "random"})
    with pytest.raises(ValidationError, match="model"):
        _deployments({})
