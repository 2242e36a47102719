"""A deterministic, mixed-modality data set for the `data` workload: text, images and audio, with planted
near-duplicates and corrupt files, and a manifest that says exactly what was planted.

    python -m park.workloads.datagen --out DIR --items N --corrupt K --seed S [--dup-fraction 0.1]

Layout under DIR (the pipeline reads DIR as is; `manifest.json` is no input, it is the answer key):

| path | content |
| --- | --- |
| `text/part-NNNNN.jsonl` | one `{"id", "text"}` object a line: short notes and long reports (chunked later) |
| `images/img-NNNNN.png` / `.jpg` | gradient backgrounds with gradient-filled shapes, sizes 48-160 px |
| `audio/clip-NNNNN.wav` | PCM WAV, 16/22.05/44.1/48 kHz, mono or stereo: tones, chirps, a noise floor |
| `*/corrupt-NNN.*` | K broken files per modality, one broken record each (reason in the manifest) |

Of N items, half are text, a quarter images, the rest audio; `dup_fraction` of each are near-duplicates
of another item of the same modality: text with other case, punctuation and spacing (long texts also
with one word replaced); images re-encoded, resized and brightened; audio rendered at another sample
rate, channel count and gain. Items are distinct by construction otherwise (random content, no two
alike). `manifest.json` lists every record with its kind (original, duplicate, corrupt), so a test can
assert exact counts for every stage of the pipeline.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

MANIFEST = "manifest.json"
LINES_PER_SHARD = 40
TEXT_REASONS = ("bad_json", "bad_encoding", "missing_text", "empty_file")
BINARY_REASONS = ("truncated", "undecodable", "empty_file")
SAMPLE_RATES = (16000, 22050, 44100, 48000)

_NOUNS = [
    "river",
    "engine",
    "garden",
    "ledger",
    "harbor",
    "lantern",
    "meadow",
    "signal",
    "archive",
    "compass",
    "tunnel",
    "orchard",
    "reactor",
    "glacier",
    "violin",
    "bridge",
    "satellite",
    "kitchen",
    "forest",
    "market",
    "canyon",
    "turbine",
    "library",
    "island",
    "beacon",
    "pipeline",
    "valley",
    "orchestra",
    "telescope",
    "vineyard",
    "battery",
    "monastery",
    "circuit",
    "desert",
    "workshop",
    "fountain",
    "highway",
    "greenhouse",
    "volcano",
    "theater",
]
_ADJECTIVES = [
    "quiet",
    "golden",
    "rusty",
    "silent",
    "ancient",
    "bright",
    "narrow",
    "hollow",
    "crimson",
    "frozen",
    "gentle",
    "restless",
    "humid",
    "distant",
    "polished",
    "brittle",
    "vivid",
    "sleepy",
    "stubborn",
    "tidy",
    "fragile",
    "modest",
    "noisy",
    "dusty",
    "elegant",
]
_VERBS = [
    "measured",
    "repaired",
    "painted",
    "followed",
    "crossed",
    "mapped",
    "inspected",
    "recorded",
    "cleaned",
    "guarded",
    "visited",
    "described",
    "photographed",
    "rebuilt",
    "studied",
    "ignored",
    "admired",
    "tested",
    "sketched",
    "replaced",
]
_PEOPLE = [
    "the engineer",
    "the farmer",
    "a student",
    "the captain",
    "our neighbour",
    "the archivist",
    "a tourist",
    "the mayor",
    "the pilot",
    "an inspector",
    "the baker",
    "a child",
    "the doctor",
    "the surveyor",
]
_TIMES = [
    "at dawn",
    "before lunch",
    "in winter",
    "after the storm",
    "every spring",
    "last night",
    "on sunday",
    "at noon",
]
_TEMPLATES = (
    "{P} {v} the {a} {n} {t}.",
    "Near the {n}, {P} {v} a {a} {n2}.",
    "The {a} {n} was {v} by {P} {t}.",
    "{T}, {P} {v} the {n} and the {a} {n2}.",
    "Nobody {v} the {n} until {P} found the {a} {n2}.",
    "Why did {P} leave the {a} {n} beside the {n2}?",
)


def sentence(rng: np.random.Generator) -> str:
    template = str(rng.choice(_TEMPLATES))
    nouns = rng.choice(_NOUNS, size=2, replace=False)
    text = template.format(
        P=rng.choice(_PEOPLE),
        v=rng.choice(_VERBS),
        a=rng.choice(_ADJECTIVES),
        n=nouns[0],
        n2=nouns[1],
        t=rng.choice(_TIMES),
        T=str(rng.choice(_TIMES)).capitalize(),
    )
    return text[0].upper() + text[1:]


def document(rng: np.random.Generator, *, long: bool) -> str:
    count = int(rng.integers(14, 34)) if long else int(rng.integers(1, 4))
    return " ".join(sentence(rng) for _ in range(count))


def near_duplicate_text(text: str, rng: np.random.Generator) -> str:
    """Same words, other surface: case, punctuation, spacing; long texts also get one word replaced."""
    words = text.split(" ")
    if len(words) > 60:
        position = int(rng.integers(5, len(words) - 5))
        words[position] = str(rng.choice(_ADJECTIVES))
    edited = "  ".join(words) if rng.random() < 0.5 else " ".join(words)
    edited = edited.replace(".", "!") if rng.random() < 0.5 else edited.replace(",", "")
    return edited.upper() if rng.random() < 0.3 else edited.lower()


def _gradient(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A linear RGB gradient at an angle within 60 degrees of horizontal (so rows never go flat)."""
    angle = rng.uniform(-math.pi / 3, math.pi / 3) + (math.pi if rng.random() < 0.5 else 0.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / max(h, w)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    start, end = rng.uniform(0, 255, size=3), rng.uniform(0, 255, size=3)
    while np.abs(end - start).sum() < 240:
        end = rng.uniform(0, 255, size=3)
    return np.asarray(start + ramp[..., None] * (end - start), dtype=np.float64)


def image_pixels(rng: np.random.Generator) -> np.ndarray:
    h = int(rng.integers(48, 161))
    w = h if rng.random() < 0.7 else int(rng.integers(48, 161))
    canvas = _gradient(h, w, rng)
    for _ in range(int(rng.integers(2, 7))):
        mask_img = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(mask_img)
        x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        x1, y1 = int(rng.integers(x0 + 8, w + 1)), int(rng.integers(y0 + 8, h + 1))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=255)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=255)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=255)
        mask = (np.asarray(mask_img, dtype=np.float32) / 255.0)[..., None]
        canvas = canvas * (1 - mask) + _gradient(h, w, rng) * mask
    return np.asarray(np.clip(canvas, 0, 255), dtype=np.uint8)


def encode_image(pixels: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def near_duplicate_image(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = pixels.shape[:2]
    scale = rng.uniform(0.85, 1.15)
    resized = Image.fromarray(pixels).resize((max(16, round(w * scale)), max(16, round(h * scale))))
    shift = float(rng.choice([-6.0, 6.0]))
    return np.asarray(np.clip(np.asarray(resized, dtype=np.float32) + shift, 0, 255), dtype=np.uint8)


@dataclass(frozen=True)
class Sound:
    """A clip's recipe; rendering it at any sample rate gives the same sound."""

    duration: float
    tone_hz: float
    chirp_from_hz: float
    chirp_to_hz: float
    am_hz: float
    onset: float
    noise_seed: int

    @classmethod
    def random(cls, rng: np.random.Generator) -> Sound:
        whole = int(rng.integers(0, 4))
        return cls(
            duration=round(whole + rng.uniform(0.6, 0.9), 3),  # never near a whole second (chunk edges)
            tone_hz=float(np.exp(rng.uniform(np.log(150), np.log(3000)))),
            chirp_from_hz=float(np.exp(rng.uniform(np.log(200), np.log(3500)))),
            chirp_to_hz=float(np.exp(rng.uniform(np.log(200), np.log(3500)))),
            am_hz=float(rng.uniform(0.5, 6.0)),
            onset=float(rng.uniform(0.0, 0.3)),
            noise_seed=int(rng.integers(0, 2**31)),
        )

    def render(self, sample_rate: int) -> np.ndarray:
        t = np.arange(round(self.duration * sample_rate)) / sample_rate
        sweep = self.chirp_from_hz * (self.chirp_to_hz / self.chirp_from_hz) ** (t / self.duration)
        chirp_phase = 2 * np.pi * np.cumsum(sweep) / sample_rate
        envelope = 0.6 + 0.4 * np.sin(2 * np.pi * self.am_hz * t)
        tone = np.where(t >= self.onset, np.sin(2 * np.pi * self.tone_hz * t), 0.0)
        noise = np.random.default_rng(self.noise_seed).normal(0.0, 0.01, size=t.shape)
        return (0.4 * envelope * tone + 0.3 * np.sin(chirp_phase) + noise).astype(np.float32)


def encode_wav(samples: np.ndarray, sample_rate: int, *, channels: int = 1, gain: float = 1.0) -> bytes:
    pcm = np.clip(samples * gain, -1.0, 1.0)
    frames = np.repeat(pcm[:, None], channels, axis=1) if channels > 1 else pcm[:, None]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes((frames * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


@dataclass
class _Writer:
    out: Path
    records: list[dict[str, Any]] = field(default_factory=list)

    def write(self, relative: str, data: bytes) -> str:
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return relative

    def record(self, **fields: Any) -> None:
        self.records.append(fields)


def _split(items: int, dup_fraction: float) -> dict[str, tuple[int, int]]:
    counts = {"text": items // 2, "image": items // 4}
    counts["audio"] = items - counts["text"] - counts["image"]
    return {m: (n - round(n * dup_fraction), round(n * dup_fraction)) for m, n in counts.items()}


def _duplicate_sources(originals: int, duplicates: int, rng: np.random.Generator) -> list[int]:
    return [int(i) for i in rng.choice(originals, size=duplicates, replace=originals < duplicates)]


def generate_text(writer: _Writer, originals: int, duplicates: int, rng: np.random.Generator) -> None:
    texts: list[str] = []
    seen: set[str] = set()
    while len(texts) < originals:
        text = document(rng, long=rng.random() < 0.2)
        if text.lower() not in seen:
            seen.add(text.lower())
            texts.append(text)
    kinds = [("original", i, t) for i, t in enumerate(texts)]
    kinds += [
        ("duplicate", i, near_duplicate_text(texts[i], rng))
        for i in _duplicate_sources(originals, duplicates, rng)
    ]
    order = rng.permutation(len(kinds))
    for shard_start in range(0, len(order), LINES_PER_SHARD):
        name = f"text/part-{shard_start // LINES_PER_SHARD:05d}.jsonl"
        lines = []
        for index, k in enumerate(order[shard_start : shard_start + LINES_PER_SHARD]):
            kind, source, text = kinds[k]
            lines.append(json.dumps({"id": f"t{k:05d}", "text": text}))
            writer.record(
                modality="text", path=name, index=index, kind=kind, group=source, words=len(text.split())
            )
        writer.write(name, ("\n".join(lines) + "\n").encode())


def generate_images(writer: _Writer, originals: int, duplicates: int, rng: np.random.Generator) -> None:
    pixels = [image_pixels(rng) for _ in range(originals)]
    formats = ["PNG" if rng.random() < 0.6 else "JPEG" for _ in range(originals)]
    items = [("original", i, pixels[i], formats[i]) for i in range(originals)]
    for i in _duplicate_sources(originals, duplicates, rng):
        other = "JPEG" if formats[i] == "PNG" else "PNG"
        items.append(("duplicate", i, near_duplicate_image(pixels[i], rng), other))
    for n, k in enumerate(rng.permutation(len(items))):
        kind, source, image, fmt = items[k]
        name = f"images/img-{n:05d}.{'png' if fmt == 'PNG' else 'jpg'}"
        writer.write(name, encode_image(image, fmt))
        h, w = image.shape[:2]
        writer.record(modality="image", path=name, index=0, kind=kind, group=source, width=w, height=h)


def generate_audio(writer: _Writer, originals: int, duplicates: int, rng: np.random.Generator) -> None:
    sounds = [Sound.random(rng) for _ in range(originals)]
    rates = [int(rng.choice(SAMPLE_RATES)) for _ in range(originals)]
    items = [("original", i, rates[i], 1, 1.0) for i in range(originals)]
    for i in _duplicate_sources(originals, duplicates, rng):
        rate = int(rng.choice([r for r in SAMPLE_RATES if r != rates[i]]))
        items.append(("duplicate", i, rate, 2, float(rng.choice([0.5, 1.25]))))
    for n, k in enumerate(rng.permutation(len(items))):
        kind, source, rate, channels, gain = items[k]
        sound = sounds[source]
        name = f"audio/clip-{n:05d}.wav"
        writer.write(name, encode_wav(sound.render(rate), rate, channels=channels, gain=gain))
        writer.record(
            modality="audio", path=name, index=0, kind=kind, group=source, duration_s=sound.duration
        )


def _corrupt_text(reason: str, rng: np.random.Generator) -> bytes:
    if reason == "bad_json":
        return json.dumps({"id": "broken", "text": document(rng, long=False)}).encode()[:-12]
    if reason == "bad_encoding":
        return b'{"id": "latin1", "text": "caf\xe9 cr\xe8me \xff\xfe"}\n'
    if reason == "missing_text":
        return b'{"id": "no-text", "title": "a record without its text"}\n'
    return b""


def generate_corrupt(writer: _Writer, count: int, rng: np.random.Generator) -> None:
    for n in range(count):
        reason = TEXT_REASONS[n % len(TEXT_REASONS)]
        name = writer.write(f"text/corrupt-{n:03d}.jsonl", _corrupt_text(reason, rng))
        writer.record(modality="text", path=name, index=0, kind="corrupt", reason=reason)
    for modality, folder, ext in (("image", "images", "png"), ("audio", "audio", "wav")):
        for n in range(count):
            reason = BINARY_REASONS[n % len(BINARY_REASONS)]
            if modality == "image":
                whole = encode_image(image_pixels(rng), "PNG" if n % 2 == 0 else "JPEG")
            else:
                whole = encode_wav(Sound.random(rng).render(16000), 16000)
            data = {"truncated": whole[: len(whole) // 2], "undecodable": rng.bytes(512), "empty_file": b""}
            name = writer.write(f"{folder}/corrupt-{n:03d}.{ext}", data[reason])
            writer.record(modality=modality, path=name, index=0, kind="corrupt", reason=reason)


def generate(out: Path, *, items: int, corrupt: int, seed: int, dup_fraction: float = 0.1) -> dict[str, Any]:
    """Write the data set and its manifest; returns the manifest."""
    if items < 4 or corrupt < 0 or not 0.0 <= dup_fraction < 0.5:
        raise ValueError("need items >= 4, corrupt >= 0 and 0 <= dup_fraction < 0.5")
    rng = np.random.default_rng(seed)
    writer = _Writer(out)
    split = _split(items, dup_fraction)
    generate_text(writer, *split["text"], rng)
    generate_images(writer, *split["image"], rng)
    generate_audio(writer, *split["audio"], rng)
    generate_corrupt(writer, corrupt, rng)
    manifest = {
        "seed": seed,
        "items": items,
        "corrupt": corrupt,
        "dupFraction": dup_fraction,
        "split": {m: {"originals": o, "duplicates": d} for m, (o, d) in split.items()},
        "records": writer.records,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m park.workloads.datagen", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", required=True, type=Path, help="directory to write (created)")
    parser.add_argument("--items", type=int, default=400, help="valid records in all (default 400)")
    parser.add_argument("--corrupt", type=int, default=3, help="broken files per modality (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dup-fraction", type=float, default=0.1, help="near-duplicates per modality")
    args = parser.parse_args(argv)
    try:
        manifest = generate(
            args.out, items=args.items, corrupt=args.corrupt, seed=args.seed, dup_fraction=args.dup_fraction
        )
    except ValueError as exc:
        parser.error(str(exc))
    for modality, split in manifest["split"].items():
        print(f"{modality}: {split['originals']} originals, {split['duplicates']} near-duplicates")
    print(f"{args.corrupt} corrupt files per modality; manifest: {args.out / MANIFEST}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
