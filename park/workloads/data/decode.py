"""Decode and validate: bytes of one source file in, records or a reason out. Never raises on bad input.

A record is one JSONL line with a "text" field, one image file or one audio file. A file that yields
nothing usable is one invalid record; in a JSONL file each bad line is an invalid record of its own,
while its good lines go on. Reasons are stable snake_case words (they are report keys):

| modality | reasons |
| --- | --- |
| text | empty_file, bad_encoding, bad_json, missing_text, empty_text |
| image | empty_file, undecodable, truncated, corrupt, too_large, too_small |
| audio | empty_file, undecodable, truncated, unsupported_format, too_short |
"""

from __future__ import annotations

import io
import json
import math
import unicodedata
import warnings
import wave
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy.signal import resample_poly

TARGET_SAMPLE_RATE = 16_000  # CREPE's rate; every clip is resampled to it, mono
MIN_AUDIO_SECONDS = 0.25
MIN_IMAGE_SIDE = 8
MAX_IMAGE_PIXELS = 50_000_000


@dataclass(frozen=True)
class Invalid:
    reason: str
    index: int = 0  # line in a JSONL file; 0 for image and audio files
    detail: str = ""


@dataclass(frozen=True)
class TextRecord:
    index: int
    text: str


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # (height, width, 3) uint8, RGB

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # mono float32 in [-1, 1] at TARGET_SAMPLE_RATE
    source_rate: int
    channels: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / TARGET_SAMPLE_RATE


def normalize_text(text: str) -> str:
    """NFC and single spaces: what the embedder and the chunker see."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def decode_text_file(data: bytes) -> list[TextRecord | Invalid]:
    """Every non-blank line is a record or an invalid record; line numbers count from 0."""
    if not data.strip():
        return [Invalid("empty_file")]
    out: list[TextRecord | Invalid] = []
    for index, raw in enumerate(data.split(b"\n")):
        if raw.strip():
            out.append(_decode_line(index, raw))
    return out


def _decode_line(index: int, raw: bytes) -> TextRecord | Invalid:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Invalid("bad_encoding", index, str(exc))
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        return Invalid("bad_json", index, str(exc))
    text = obj.get("text") if isinstance(obj, dict) else None
    if not isinstance(text, str):
        return Invalid("missing_text", index)
    text = normalize_text(text)
    return TextRecord(index, text) if text else Invalid("empty_text", index)


def decode_image(data: bytes) -> DecodedImage | Invalid:
    if not data:
        return Invalid("empty_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return Invalid("too_large", detail=f"{image.width}x{image.height}")
            image.load()
    except UnidentifiedImageError as exc:
        return Invalid("undecodable", detail=str(exc))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return Invalid("too_large", detail=str(exc))
    except Exception as exc:  # untrusted bytes: PIL raises OSError, SyntaxError, struct.error, ...
        return Invalid("truncated" if "truncated" in str(exc).lower() else "corrupt", detail=str(exc))
    if min(image.width, image.height) < MIN_IMAGE_SIDE:
        return Invalid("too_small", detail=f"{image.width}x{image.height}")
    return DecodedImage(np.asarray(image.convert("RGB"), dtype=np.uint8))


_PCM = {1: ("u1", 128.0, 128.0), 2: ("<i2", 0.0, 32768.0), 4: ("<i4", 0.0, 2147483648.0)}


def decode_audio(data: bytes) -> DecodedAudio | Invalid:
    """PCM WAV (8/16/24/32-bit, any channels, any rate) to 16 kHz mono float32."""
    if not data:
        return Invalid("empty_file")
    try:
        with wave.open(io.BytesIO(data)) as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            declared = wav.getnframes()
            frames = wav.readframes(declared)
    except Exception as exc:  # untrusted bytes: `wave` raises Error, EOFError, RuntimeError, struct.error...
        return Invalid("undecodable", detail=str(exc) or type(exc).__name__)
    if width not in (1, 2, 3, 4) or channels < 1 or rate < 1000:
        return Invalid("unsupported_format", detail=f"{width * 8}-bit, {channels} channels, {rate} Hz")
    got = len(frames) // (width * channels)
    if got < declared:
        return Invalid("truncated", detail=f"{got} of {declared} frames")
    pcm = _pcm_to_float(frames[: got * width * channels], width).reshape(got, channels).mean(axis=1)
    samples = resample(pcm, rate, TARGET_SAMPLE_RATE)
    if len(samples) < MIN_AUDIO_SECONDS * TARGET_SAMPLE_RATE:
        return Invalid("too_short", detail=f"{len(samples) / TARGET_SAMPLE_RATE:.3f} s")
    return DecodedAudio(samples=samples, source_rate=rate, channels=channels)


def _pcm_to_float(frames: bytes, width: int) -> np.ndarray:
    if width == 3:  # 24-bit little-endian: widen to int32 by hand
        raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3)
        wide = raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8 | raw[:, 2].astype(np.int32) << 16
        return (np.where(wide >= 1 << 23, wide - (1 << 24), wide) / float(1 << 23)).astype(np.float32)
    dtype, offset, scale = _PCM[width]
    return ((np.frombuffer(frames, dtype=dtype).astype(np.float32) - offset) / scale).astype(np.float32)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased); exact rational ratio, so 44.1 kHz -> 16 kHz is 160/441."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    g = math.gcd(rate, target)
    return np.asarray(resample_poly(samples, target // g, rate // g), dtype=np.float32)
