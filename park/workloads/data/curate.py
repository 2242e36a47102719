"""Near-duplicate removal: a fingerprint per record, LSH bands to find candidates, an exact check, clusters.

- text: MinHash (128 permutations) over word 3-shingles of casefolded words; similarity is the share of
  equal MinHash values (an estimate of Jaccard); LSH: 32 bands of 4 values.
- image: an 8x8x3 colour thumbnail, centred, unit length (an "average hash" kept as numbers); cosine;
  LSH: SimHash (signs of 256 fixed random projections), 32 bands of 8 bits.
- audio: log-mel dB, 64 bands x 8 time segments, floored 40 dB under the peak, centred, unit length;
  cosine; LSH: SimHash as for images.

Fingerprints are computed where the data is (Ray tasks); `find_duplicates` then runs on the driver over
the small fingerprint table only: records that share a band are candidates, candidates at or above the
threshold are joined (union-find, so near-duplicate chains form one cluster), and each cluster keeps
its first record by (path, line) and drops the rest. Recall of the banding: MinHash pairs of Jaccard
0.8 share a band with probability 1 - (1 - 0.8^4)^32 > 0.99999; SimHash pairs of cosine 0.97 (14
degrees, so a bit differs with probability 0.08) with probability 1 - (1 - 0.92^8)^32 > 0.99999.
Grayscale or gradient hashes (dHash, pHash) were measured on the generated data and confused distinct
images of similar luminance; a coarse colour layout separates them. Beyond a few million records the
banding would move from the
driver into a Ray Data `groupby` on band keys; the rest stays as is.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from park.workloads.data.decode import TARGET_SAMPLE_RATE

NUM_PERM = 128
BANDS = 32  # every fingerprint is banded into 32 LSH bands
SHINGLE = 3
_PRIME = np.uint64((1 << 31) - 1)
_PERM_RNG = np.random.default_rng(0x5EED)  # fixed: every worker must draw the same permutations
_A = _PERM_RNG.integers(1, int(_PRIME), NUM_PERM, dtype=np.uint64)
_B = _PERM_RNG.integers(0, int(_PRIME), NUM_PERM, dtype=np.uint64)
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5], np.uint64)
_WORD = re.compile(r"\w+")

THUMB_SIDE = 8
THUMB_DIM = THUMB_SIDE * THUMB_SIDE * 3
MEL_BANDS, TIME_SEGMENTS, FLOOR_DB = 64, 8, 40.0
AUDIO_DIM = MEL_BANDS * TIME_SEGMENTS
SIMHASH_BITS = 8 * BANDS
_FRAME, _HOP = 1024, 512  # 64 ms frames at 16 kHz: 15.6 Hz bins, enough to tell low tones apart

SimilarityFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
RecordKey = tuple[str, int]


# -- text ---------------------------------------------------------------------------------------


def shingle_hashes(text: str) -> np.ndarray:
    words = _WORD.findall(text.casefold())
    grams = [" ".join(words[i : i + SHINGLE]) for i in range(max(len(words) - SHINGLE + 1, 1))]
    return np.array(sorted({zlib.crc32(g.encode()) for g in grams}), dtype=np.uint64)


def minhash(text: str) -> np.ndarray:
    """(NUM_PERM,) uint32: min over shingles of (a*x + b) mod p, one (a, b) per permutation."""
    hashes = shingle_hashes(text)
    # a < 2^31 and x < 2^32, so a*x + b stays below 2^63: no overflow in uint64.
    return np.asarray(((_A[:, None] * hashes[None, :] + _B[:, None]) % _PRIME).min(axis=1), dtype=np.uint32)


def minhash_bands(signature: np.ndarray) -> np.ndarray:
    rows = signature.reshape(BANDS, NUM_PERM // BANDS).astype(np.uint64)
    return np.asarray((rows * _MIX[None, : rows.shape[1]]).sum(axis=1), dtype=np.uint64)  # wraps mod 2^64


def minhash_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a == b).mean(axis=-1))


# -- images and audio: unit vectors, cosine, SimHash bands -------------------------------------------


def colour_thumbnail(pixels: np.ndarray) -> np.ndarray:
    """(THUMB_DIM,) float32 unit vector: an 8x8 RGB box-averaged thumbnail, centred.

    Centring cancels a brightness shift, unit length a contrast change; colour stays in (a grayscale
    hash confuses images whose colours differ but whose luminance does not)."""
    thumb = Image.fromarray(pixels).resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX)
    return _unit(np.asarray(thumb, dtype=np.float32).ravel())


@cache
def _mel_filters() -> np.ndarray:
    """(MEL_BANDS, _FRAME // 2 + 1) triangular mel filters, 60 Hz to 7.6 kHz, each of unit area (so
    white noise is flat across bands and a tone stands out wherever it is)."""
    mel = np.linspace(2595 * np.log10(1 + 60 / 700), 2595 * np.log10(1 + 7600 / 700), MEL_BANDS + 2)
    edges = 700 * (10 ** (mel / 2595) - 1)
    freqs = np.fft.rfftfreq(_FRAME, 1 / TARGET_SAMPLE_RATE)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lower) / (centre - lower)
    down = (upper - freqs[None, :]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(up, down))
    return np.asarray(filters / np.maximum(filters.sum(axis=1, keepdims=True), 1e-12))


def spectral_fingerprint(samples: np.ndarray) -> np.ndarray:
    """(AUDIO_DIM,) float32 unit vector: log-mel energy (dB, floored 40 dB under the peak) averaged
    over 8 equal time segments of a 16 kHz clip, centred (so gain cancels)."""
    padded = np.pad(samples, (0, max(0, _FRAME - len(samples))))
    count = 1 + (len(padded) - _FRAME) // _HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, _FRAME)[::_HOP][:count]
    power = np.abs(np.fft.rfft(frames * np.hanning(_FRAME), axis=1)) ** 2
    db = 10 * np.log10(power @ _mel_filters().T + 1e-12)
    db = np.maximum(db, db.max() - FLOOR_DB)
    segments = [s.mean(axis=0) for s in np.array_split(db, TIME_SEGMENTS) if len(s)]
    segments += segments[-1:] * (TIME_SEGMENTS - len(segments))  # shorter than 8 frames: repeat
    return _unit(np.concatenate(segments))


def _unit(vector: np.ndarray) -> np.ndarray:
    centred = vector - vector.mean()
    return np.asarray(centred / max(float(np.linalg.norm(centred)), 1e-12), dtype=np.float32)


@cache
def _hyperplanes(dim: int) -> np.ndarray:
    return np.random.default_rng(0xA0D10 + dim).standard_normal((SIMHASH_BITS, dim)).astype(np.float32)


def simhash_bands(vector: np.ndarray) -> np.ndarray:
    """(BANDS,) uint64: signs of 256 fixed random projections, 8 bits a band. Two vectors at angle t
    differ in each bit with probability t/180 degrees, so close vectors share bands."""
    return np.packbits(_hyperplanes(vector.shape[-1]) @ vector > 0).astype(np.uint64)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=-1))


# -- clustering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dedup:
    drop: frozenset[RecordKey]
    candidates: int  # pairs that shared a band
    matches: int  # candidate pairs at or above the threshold
    clusters: int  # clusters of two or more records


def candidate_pairs(bands: np.ndarray) -> np.ndarray:
    """(m, 2) int64 index pairs i < j that share at least one band value."""
    pairs: set[tuple[int, int]] = set()
    for column in range(bands.shape[1]):
        buckets: defaultdict[int, list[int]] = defaultdict(list)
        for row, value in enumerate(bands[:, column].tolist()):
            buckets[value].append(row)
        for members in buckets.values():
            pairs.update((members[i], j) for i in range(len(members)) for j in members[i + 1 :])
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def find_duplicates(
    keys: Sequence[RecordKey],
    bands: np.ndarray,
    signatures: np.ndarray,
    *,
    similarity: SimilarityFn,
    threshold: float,
) -> Dedup:
    """Which records to drop so that no two kept records are near-duplicates of each other."""
    pairs = candidate_pairs(bands) if len(keys) > 1 else np.empty((0, 2), dtype=np.int64)
    scores = similarity(signatures[pairs[:, 0]], signatures[pairs[:, 1]]) if len(pairs) else np.empty(0)
    matched = pairs[scores >= threshold - 1e-9]
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in matched.tolist():
        a, b = root(i), root(j)
        if a != b:  # the smaller key becomes the root, so the root is the record a cluster keeps
            parent[max(a, b, key=lambda r: keys[r])] = min(a, b, key=lambda r: keys[r])
    drop = frozenset(keys[i] for i in range(len(keys)) if root(i) != i)
    roots_with_members = {root(i) for i in range(len(keys)) if root(i) != i}
    return Dedup(drop=drop, candidates=len(pairs), matches=len(matched), clusters=len(roots_with_members))


SIMILARITY: dict[str, SimilarityFn] = {
    "text": minhash_similarity,
    "image": cosine_similarity,
    "audio": cosine_similarity,
}
