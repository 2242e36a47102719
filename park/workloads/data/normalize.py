"""Normalize: every record becomes fixed-shape model input, split into chunks where it is long.

- images: center-cropped to a square and resized to `size` x `size` RGB (one chunk);
- audio: 16 kHz mono (done at decode) cut into fixed windows; the last one zero-padded, and kept
  whatever its length, so no sound is dropped;
- text: windows of `words` words (MiniLM reads at most 256 word pieces: 128 words fit comfortably).

Chunk counts are pure functions of a record's size, so the driver knows after the fingerprint pass how
many rows the embedding stage will produce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image


def square_image(pixels: np.ndarray, size: int) -> np.ndarray:
    """Center crop to the short side, then a high-quality (antialiased) resize."""
    h, w = pixels.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(pixels[top : top + side, left : left + side])
    return np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def text_chunk_count(words: int, chunk_words: int) -> int:
    return max(1, math.ceil(words / chunk_words))


def chunk_text(text: str, chunk_words: int) -> list[str]:
    words = text.split()
    return [" ".join(words[i : i + chunk_words]) for i in range(0, max(len(words), 1), chunk_words)]


def audio_chunk_count(samples: int, window: int) -> int:
    return max(1, math.ceil(samples / window))


@dataclass(frozen=True)
class AudioChunks:
    windows: np.ndarray  # (n, window) float32, the last one zero-padded
    lengths: np.ndarray  # (n,) samples of real sound in each window


def chunk_audio(samples: np.ndarray, window: int) -> AudioChunks:
    count = audio_chunk_count(len(samples), window)
    padded = np.zeros(count * window, dtype=np.float32)
    padded[: len(samples)] = samples
    starts = np.arange(count) * window
    lengths = np.minimum(window, len(samples) - starts)
    return AudioChunks(windows=padded.reshape(count, window), lengths=lengths.astype(np.int32))
