"""The serving app's arguments: the `args` of its entry in a Serve config (a ParkService's `applications`).

Strict, so a typo in a ParkService is an error at deploy time that names the field, not a silently
default-configured server. Per-deployment scaling (num_replicas, autoscaling_config,
ray_actor_options) is not here: it belongs to the Serve config's `deployments:` list, by deployment
name (see `app.py`). `num_replicas` here is only the default the code sets, for callers without a
Serve config (tests, benchmarks, `serve.run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from park.workloads.artifacts import is_uri

Mode = Literal["disaggregated", "monolithic", "moe"]
Router = Literal["prefix", "round_robin", "power_of_two"]

DEPLOYMENTS = ("ingress", "prefill", "decode", "monolithic", "moe")


class ServeArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="a park.charlm/v1 model directory: a path on every node, or a URI (s3://)")
    mode: Mode = Field(
        "disaggregated", description="prefill and decode apart, together, or MoE experts apart"
    )
    router: Router = Field("prefix", description="how the ingress picks the prefill (or monolithic) replica")
    max_batch_size: int = Field(16, ge=1, le=1024, description="requests one decode step runs together")
    served_model_name: str | None = Field(
        None, description="the `model` clients send; default: the directory name"
    )
    prefix_cache_tokens: int = Field(
        8192, ge=0, description="KV positions each prefill replica keeps; 0: none"
    )
    prefix_block_tokens: int = Field(16, ge=1, description="prefix-cache and router block size")
    imbalance_threshold: int = Field(4, ge=0, description="queue-length lead that overrides prefix affinity")
    torch_threads: int = Field(1, ge=1, description="torch threads (and CPUs reserved) per model replica")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when the replica reserved a GPU (ray_actor_options.num_gpus)"
    )
    first_token_timeout_s: float = Field(60.0, gt=0, description="prefill + first token, per attempt")
    token_timeout_s: float = Field(30.0, gt=0, description="the longest wait for any later token")
    request_timeout_s: float = Field(300.0, gt=0, description="a whole non-streamed completion")
    expert_timeout_s: float = Field(10.0, gt=0, description="one MoE expert call")
    num_replicas: dict[str, int] = Field(
        default_factory=dict, description="default replica counts by deployment name (`expert-<i>` too)"
    )

    @field_validator("model")
    @classmethod
    def _model_dir(cls, value: str) -> str:
        if not value:
            raise ValueError("model must name a model directory")
        return value

    @field_validator("num_replicas")
    @classmethod
    def _known_deployments(cls, value: dict[str, int]) -> dict[str, int]:
        for name, count in value.items():
            if name not in DEPLOYMENTS and not name.startswith("expert-"):
                raise ValueError(
                    f"no deployment named {name!r}: deployments are {', '.join(DEPLOYMENTS)}, expert-<i>"
                )
            if count < 1:
                raise ValueError(f"num_replicas[{name!r}] must be positive")
        return value

    @model_validator(mode="after")
    def _cache_holds_a_block(self) -> ServeArgs:
        if 0 < self.prefix_cache_tokens < self.prefix_block_tokens:
            raise ValueError("prefix_cache_tokens must be 0 (no cache) or at least prefix_block_tokens")
        return self

    @property
    def model_dir(self) -> Path:
        """The model's files on this machine: a local directory, or a URI's copy downloaded once."""
        from park.workloads.checkpoints import cached_local_dir  # noqa: PLC0415 - replicas only

        return cached_local_dir(self.model)

    def torch_device(self) -> str:
        """Where model replicas put the weights; Ray hides GPUs from replicas that reserved none."""
        if self.device != "auto":
            return self.device
        import torch  # noqa: PLC0415 - args stay importable without torch (the control plane validates them)

        return "cuda" if torch.cuda.is_available() else "cpu"

    @property
    def model_name(self) -> str:
        if self.served_model_name:
            return self.served_model_name
        if is_uri(self.model):
            return self.model.rstrip("/").rsplit("/", 1)[-1]
        return Path(self.model).resolve().name

    def replicas(self, deployment: str) -> int:
        return self.num_replicas.get(deployment, 1)
