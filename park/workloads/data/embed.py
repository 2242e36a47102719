"""The embedding stage: a pool of Ray actors on the accelerators when there are any.

Actors (not tasks) because loading a model costs seconds: each actor loads a model once, on the first
batch of its modality, then serves batch after batch. One pool serves all three modalities, so the
cold start is paid once per actor, not once per modality, and text, images and audio share the GPUs
instead of queueing for them. With GPUs in the cluster each actor asks for one (`num_gpus=1`) and the
pool grows to one actor per GPU; without, actors take one CPU each and the pool stops one CPU short
of the cluster, so decoding keeps running beside the embedding instead of waiting for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from park.core.errors import InvalidError
from park.workloads.data.schema import OUTPUT_SCHEMA, output_table


@dataclass(frozen=True)
class EmbedPlan:
    num_gpus: int
    num_cpus: float
    max_actors: int

    @property
    def device(self) -> str:
        return "cuda" if self.num_gpus else "cpu"

    def map_batches_args(self) -> dict[str, Any]:
        from ray.data import ActorPoolStrategy  # noqa: PLC0415 - keep unit tests free of Ray Data

        return {
            "compute": ActorPoolStrategy(min_size=1, max_size=self.max_actors),
            "num_gpus": self.num_gpus,
            "num_cpus": self.num_cpus,
        }


def plan_embedding(
    resources: Mapping[str, float], *, use_gpu: bool | None = None, max_actors: int | None = None
) -> EmbedPlan:
    """Decide from `ray.cluster_resources()`; `use_gpu` and `max_actors` override."""
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    if use_gpu is None:
        use_gpu = gpus > 0
    if use_gpu:
        if gpus < 1:
            raise InvalidError("use_gpu is true but the Ray cluster has no GPU; leave it unset to use CPUs")
        return EmbedPlan(num_gpus=1, num_cpus=1, max_actors=min(max_actors or gpus, gpus))
    return EmbedPlan(num_gpus=0, num_cpus=1, max_actors=max_actors or max(1, cpus - 1))


class Embedder:
    """`map_batches` callable class: a block of chunks of one modality (numpy) in, output rows (Arrow,
    `OUTPUT_SCHEMA`) out, embedded `batch_size` chunks at a time."""

    def __init__(self, *, batch_size: int, progress: Any = None, scheme: str = "") -> None:
        import torch  # noqa: PLC0415 - imported in the actor, not in the driver

        self.batch_size = batch_size
        self.progress = progress
        self.scheme = scheme  # put back in front of source paths (pyarrow filesystems drop it)
        # In a Ray actor OMP_NUM_THREADS is the actor's CPU count, and torch sizes its pool from it.
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.models: dict[str, Any] = {}

    def model(self, modality: str) -> Any:
        if modality not in self.models:
            if modality == "text" and os.environ.get("PARK_PLACEMENT") == "federated":
                from park.workloads.data.federated import FederatedTextModel  # noqa: PLC0415

                self.models[modality] = FederatedTextModel.from_env()
                return self.models[modality]
            from park.workloads.data import models  # noqa: PLC0415

            builders = {"text": models.TextModel, "image": models.ImageModel, "audio": models.AudioModel}
            self.models[modality] = builders[modality](self.device)
        return self.models[modality]

    def embed(self, modality: str, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        model = self.model(modality)
        if modality == "text":
            return np.asarray(model.embed([str(t) for t in batch["text"]]))
        if modality == "image":
            return np.asarray(model.embed(batch["image"]))
        return np.asarray(model.embed(batch["audio"], batch["length"]))

    def __call__(self, block: dict[str, np.ndarray]) -> pa.Table:
        n = len(block["path"])
        if not n:
            return OUTPUT_SCHEMA.empty_table()
        modality = str(block["modality"][0])
        tables = []
        for start in range(0, n, self.batch_size):
            batch = {k: v[start : start + self.batch_size] for k, v in block.items()}  # views, no copies
            embeddings = self.embed(modality, batch)
            tables.append(output_table(modality, batch, embeddings, scheme=self.scheme))
            if self.progress is not None:
                self.progress.add.remote("embedded", modality, len(embeddings))  # fire and forget
        return pa.concat_tables(tables)
