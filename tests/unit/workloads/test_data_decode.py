"""Decode and validate: every broken input becomes a counted reason, never an exception."""

from __future__ import annotations

import io
import json
import wave

import numpy as np
import pytest
from PIL import Image

from park.workloads.data.decode import (
    TARGET_SAMPLE_RATE,
    DecodedAudio,
    DecodedImage,
    Invalid,
    TextRecord,
    decode_audio,
    decode_image,
    decode_text_file,
    resample,
)
from park.workloads.datagen import encode_image, encode_wav


def _png(width: int = 40, height: int = 30, fmt: str = "PNG") -> bytes:
    pixels = np.random.default_rng(1).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return encode_image(pixels, fmt)


def test_jsonl_lines_are_records_and_bad_lines_are_reasons() -> None:
    lines = [
        json.dumps({"text": "  The   quick\tfox.  "}).encode(),
        b"",
        b'{"text": "cut off',
        b'{"title": "no text"}',
        b'{"text": 42}',
        b'["not", "an", "object"]',
        b'{"text": "   "}',
        b'{"text": "caf\xe9"}',
        json.dumps({"text": "Caf\u00e9 au lait", "id": 7}).encode(),
    ]
    out = decode_text_file(b"\n".join(lines) + b"\n")
    assert out == [
        TextRecord(0, "The quick fox."),
        Invalid("bad_json", 2, out[1].detail if isinstance(out[1], Invalid) else ""),
        Invalid("missing_text", 3),
        Invalid("missing_text", 4),
        Invalid("missing_text", 5),
        Invalid("empty_text", 6),
        Invalid("bad_encoding", 7, out[6].detail if isinstance(out[6], Invalid) else ""),
        TextRecord(8, "Café au lait"),
    ]


@pytest.mark.parametrize("data", [b"", b"\n\n  \n"])
def test_an_empty_jsonl_file_is_one_invalid_record(data: bytes) -> None:
    assert decode_text_file(data) == [Invalid("empty_file")]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_images_decode_to_rgb(fmt: str) -> None:
    image = decode_image(_png(40, 30, fmt))
    assert isinstance(image, DecodedImage)
    assert (image.width, image.height, image.pixels.dtype) == (40, 30, np.uint8)
    assert image.pixels.shape == (30, 40, 3)


def test_grayscale_and_palette_images_become_rgb() -> None:
    buffer = io.BytesIO()
    Image.new("P", (20, 20), 3).save(buffer, format="PNG")
    image = decode_image(buffer.getvalue())
    assert isinstance(image, DecodedImage)
    assert image.pixels.shape == (20, 20, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"\x89PNG but not really" * 10, "undecodable"),
        (np.random.default_rng(0).bytes(300), "undecodable"),
        (_png()[: len(_png()) // 2], "truncated"),
        (_png(fmt="JPEG")[:-40], "truncated"),
        (_png(4, 4), "too_small"),
    ],
)
def test_broken_images_are_reasons(data: bytes, reason: str) -> None:
    result = decode_image(data)
    assert isinstance(result, Invalid)
    assert result.reason == reason


def _wav(samples: np.ndarray, rate: int, *, width: int = 2, channels: int = 1) -> bytes:
    scale = {1: 127, 2: 32767, 3: 8388607, 4: 2147483647}[width]
    ints = np.round(np.repeat(samples[:, None], channels, axis=1) * scale).astype(np.int64)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    else:
        raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints.ravel())
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(raw)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_widths_decode_to_the_same_signal(width: int) -> None:
    t = np.arange(8000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audio = decode_audio(_wav(tone, 16000, width=width, channels=2))
    assert isinstance(audio, DecodedAudio)
    assert (audio.source_rate, audio.channels, audio.samples.dtype) == (16000, 2, np.float32)
    assert np.abs(audio.samples - tone).max() < (0.01 if width == 1 else 1e-4)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_audio_is_resampled_to_16k_keeping_duration_and_pitch(rate: int) -> None:
    t = np.arange(rate) / rate  # one second
    audio = decode_audio(encode_wav(np.sin(2 * np.pi * 1000 * t).astype(np.float32), rate))
    assert isinstance(audio, DecodedAudio)
    assert abs(len(audio.samples) - TARGET_SAMPLE_RATE) <= 1
    spectrum = np.abs(np.fft.rfft(audio.samples[:16000]))
    assert abs(np.argmax(spectrum) - 1000) <= 1  # 1 Hz bins: the tone is still at 1 kHz


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"RIFF....WAVEnot a wav at all", "undecodable"),
        (np.random.default_rng(0).bytes(400), "undecodable"),
        (encode_wav(np.zeros(16000, np.float32), 16000)[:16000], "truncated"),
        (encode_wav(np.zeros(1000, np.float32), 16000), "too_short"),
    ],
)
def test_broken_audio_is_reasons(data: bytes, reason: str) -> None:
    result = decode_audio(data)
    assert isinstance(result, Invalid)
    assert result.reason == reason


def test_resample_is_identity_at_the_target_rate() -> None:
    x = np.arange(10, dtype=np.float32)
    assert resample(x, 16000, 16000) is x


def test_mangled_files_never_raise() -> None:
    """Flip bytes and cut files at random: decoding reports, it does not crash the job."""
    rng = np.random.default_rng(42)
    t = np.arange(4000) / 16000
    seeds = {
        "image": [_png(), _png(fmt="JPEG")],
        "audio": [encode_wav(np.sin(2 * np.pi * 300 * t).astype(np.float32), 16000)],
        "text": [b'{"text": "hello there"}\n{"text": "general kenobi"}\n'],
    }
    decoders = {"image": decode_image, "audio": decode_audio, "text": decode_text_file}
    for modality, originals in seeds.items():
        for original in originals:
            for _ in range(150):
                data = bytearray(original)
                for position in rng.integers(0, len(data), size=int(rng.integers(1, 8))):
                    data[position] = int(rng.integers(0, 256))
                cut = bytes(data[: int(rng.integers(1, len(data) + 1))])
                decoders[modality](cut)  # returns a record or Invalid, whatever the bytes
