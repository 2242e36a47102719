"""The `train` workload's parameters (validated at the edge, then passed to every worker as is)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from park.workloads.corpus import DEFAULT_MAX_CHARS
from park.workloads.models.charlm import CharLMConfig


class TrainParams(BaseModel):
    """Train a character-level transformer LM with Ray Train (data parallel over `num_workers`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # data
    corpus: str | None = Field(None, description="text file; default: the standard-library docstrings")
    max_corpus_chars: int = Field(DEFAULT_MAX_CHARS, ge=1_000)
    eval_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="tail of the corpus held out for eval")
    # model
    block_size: int = Field(64, ge=2)
    n_layer: int = Field(2, ge=1)
    n_head: int = Field(4, ge=1)
    d_model: int = Field(128, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    n_expert: int = Field(0, ge=0, description="experts per block (mixture of experts); 0: a dense MLP")
    expert_top_k: int = Field(2, ge=1, description="experts each token is routed to, when n_expert > 0")
    # optimisation
    steps: int = Field(500, ge=1)
    batch_size: int = Field(32, ge=1, description="sequences per worker and step")
    lr: float = Field(3e-3, gt=0.0)
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0)
    warmup_steps: int = Field(20, ge=0)
    weight_decay: float = Field(0.01, ge=0.0)
    grad_clip: float | None = Field(1.0, gt=0.0)
    seed: int = 0
    # scaling
    num_workers: int = Field(1, ge=1)
    use_gpu: bool | None = Field(None, description="default: when the cluster has GPUs")
    cpus_per_worker: float = Field(1.0, gt=0.0)
    max_failures: int = Field(0, ge=-1, description="worker-group restarts within one attempt")
    # checkpoints and progress
    checkpoint_every_steps: int | None = Field(100, ge=1)
    checkpoint_every_seconds: float | None = Field(None, gt=0.0)
    keep_checkpoints: int | None = Field(3, ge=1, description="newest checkpoints kept; null keeps all")
    log_every_steps: int = Field(10, ge=1)
    resume: bool = Field(True, description="without PARK_RESUME_FROM, continue from the newest checkpoint")

    @model_validator(mode="after")
    def _model_is_valid(self) -> TrainParams:
        self.charlm_config(vocab_size=1)  # raises ValueError with the reason
        return self

    def charlm_config(self, *, vocab_size: int) -> CharLMConfig:
        return CharLMConfig(
            vocab_size=vocab_size,
            block_size=self.block_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            d_model=self.d_model,
            dropout=self.dropout,
            n_expert=self.n_expert,
            expert_top_k=self.expert_top_k,
        )
