"""The `data` workload's parameters (JSON in PARK_WORKLOAD_PARAMS, or `--params` locally)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from park.workloads.data.decode import TARGET_SAMPLE_RATE
from park.workloads.data.stages import Settings

Modality = Literal["text", "image", "audio"]
MODALITIES: tuple[Modality, ...] = ("text", "image", "audio")
# Measured on generated data (5 seeds): planted near-duplicates score >= 0.93 (text), >= 0.99 (images,
# audio); distinct items <= 0.40 (text), <= 0.90 (images), <= 0.96 (audio).
DEFAULT_THRESHOLDS: dict[Modality, float] = {"text": 0.8, "image": 0.97, "audio": 0.98}


class DataParams(BaseModel):
    """Decode, validate, deduplicate, chunk and embed a mixed text/image/audio data set with Ray Data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str = Field(min_length=1, description="a directory, a file, or a pyarrow URI (s3://, gs://...)")
    output: str | None = Field(None, description="Parquet directory; default: <job dir>/output")
    modalities: tuple[Modality, ...] = Field(MODALITIES, min_length=1)
    batch_size: int = Field(64, ge=1, description="chunks per embedding batch")
    files_per_batch: int = Field(16, ge=1, description="files per decode batch")
    dedup: bool = True
    dedup_threshold: float | dict[Modality, float] | None = Field(
        None, description="similarity at which two records are near-duplicates; one number or per modality"
    )
    image_size: int = Field(224, ge=32, le=1024, description="square side the image model sees")
    text_chunk_words: int = Field(128, ge=8, le=512)
    audio_window_s: float = Field(1.0, ge=0.064, le=60.0, description="seconds of sound per chunk")
    use_gpu: bool | None = Field(None, description="default: when the Ray cluster has GPUs")
    max_embed_actors: int | None = Field(None, ge=1, description="default: one per GPU, or CPUs - 1")

    def threshold(self, modality: Modality) -> float:
        if isinstance(self.dedup_threshold, float | int):
            return float(self.dedup_threshold)
        return (self.dedup_threshold or {}).get(modality, DEFAULT_THRESHOLDS[modality])

    def settings(self) -> Settings:
        return Settings(
            image_size=self.image_size,
            text_chunk_words=self.text_chunk_words,
            audio_window=round(self.audio_window_s * TARGET_SAMPLE_RATE),
        )
