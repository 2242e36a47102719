"""Near-duplicate detection: fingerprints that ignore what should not matter, clusters that keep one."""

from __future__ import annotations

import numpy as np
import pytest

from park.workloads.data import curate
from park.workloads.data.decode import resample
from park.workloads.datagen import Sound, image_pixels, near_duplicate_image

LONG = (
    "The surveyor mapped the quiet river at dawn and the archivist recorded every bridge near the "
    "harbor before the storm arrived. Later that spring a tourist photographed the golden lantern "
    "beside the ancient library while the mayor inspected the rusty turbine. Nobody cleaned the "
    "dusty workshop until the baker found a fragile compass under the narrow tunnel, and the pilot "
    "described the frozen glacier to a child who had never seen snow."
)


def _jaccard(a: str, b: str) -> float:
    def shingles(text: str) -> set[str]:
        words = curate._WORD.findall(text.casefold())
        return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}

    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def test_minhash_ignores_case_punctuation_and_spacing() -> None:
    variant = LONG.upper().replace(".", "!").replace(" ", "   ")
    assert curate.minhash_similarity(curate.minhash(LONG), curate.minhash(variant)) == 1.0


def test_minhash_estimates_jaccard() -> None:
    words = LONG.split()
    edited = " ".join([*words[:30], "completely", "different", "words", "here", *words[34:]])
    estimate = float(curate.minhash_similarity(curate.minhash(LONG), curate.minhash(edited)))
    assert estimate == pytest.approx(_jaccard(LONG, edited), abs=0.1)
    other = "Quarterly revenue grew while the board approved a new budget for the marketing team."
    assert curate.minhash_similarity(curate.minhash(LONG), curate.minhash(other)) < 0.1


def test_minhash_is_the_same_in_every_process() -> None:
    """Workers compute signatures independently: the permutations must not depend on the process."""
    assert curate.minhash("a b c d")[:4].tolist() == curate.minhash("a b c d")[:4].tolist()
    assert curate.minhash_bands(curate.minhash(LONG)).dtype == np.uint64


def test_thumbnail_ignores_brightness_and_small_resizes_but_not_content() -> None:
    rng = np.random.default_rng(3)
    pixels = image_pixels(rng)
    copy = near_duplicate_image(pixels, rng)
    other = image_pixels(rng)
    base = curate.colour_thumbnail(pixels)
    assert curate.cosine_similarity(base, curate.colour_thumbnail(copy)) > 0.99
    assert curate.cosine_similarity(base, curate.colour_thumbnail(other)) < 0.9
    assert np.linalg.norm(base) == pytest.approx(1.0, abs=1e-5)


def test_spectral_fingerprint_ignores_gain_and_sample_rate_but_not_pitch() -> None:
    sound = Sound(1.5, 440.0, 300.0, 900.0, 2.0, 0.1, noise_seed=1)
    base = curate.spectral_fingerprint(sound.render(16000))
    louder = curate.spectral_fingerprint(0.5 * resample(sound.render(44100), 44100, 16000))
    other = curate.spectral_fingerprint(Sound(1.5, 523.0, 300.0, 900.0, 2.0, 0.1, noise_seed=1).render(16000))
    assert curate.cosine_similarity(base, louder) > 0.995
    assert curate.cosine_similarity(base, other) < 0.95
    assert base.shape == (curate.AUDIO_DIM,)


def test_very_short_audio_still_has_a_full_fingerprint() -> None:
    fingerprint = curate.spectral_fingerprint(np.sin(np.arange(2000) / 5).astype(np.float32))
    assert fingerprint.shape == (curate.AUDIO_DIM,)
    assert np.isfinite(fingerprint).all()


def test_simhash_bands_of_close_vectors_agree() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(64).astype(np.float32)
    a /= np.linalg.norm(a)
    b = a + 0.01 * rng.standard_normal(64).astype(np.float32)
    assert (curate.simhash_bands(a) == curate.simhash_bands(b / np.linalg.norm(b))).sum() >= 16


def test_candidate_pairs_share_a_band() -> None:
    bands = np.array([[1, 2], [1, 3], [4, 3], [5, 6]], dtype=np.uint64)
    assert curate.candidate_pairs(bands).tolist() == [[0, 1], [1, 2]]


def _vectors(*rows: list[float]) -> np.ndarray:
    array = np.array(rows, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def test_clusters_keep_their_first_record_and_drop_the_rest() -> None:
    keys = [("b.png", 0), ("a.png", 0), ("c.png", 0), ("d.png", 0)]
    signatures = _vectors([1, 0, 0], [1, 0.01, 0], [0, 1, 0], [1, 0, 0.01])
    bands = np.zeros((4, 1), dtype=np.uint64)  # everything is a candidate of everything
    result = curate.find_duplicates(
        keys, bands, signatures, similarity=curate.cosine_similarity, threshold=0.99
    )
    assert result.drop == {("b.png", 0), ("d.png", 0)}  # "a.png" sorts first and is kept
    assert (result.candidates, result.matches, result.clusters) == (6, 3, 1)


def test_near_duplicate_chains_form_one_cluster() -> None:
    """a~b and b~c but not a~c: still one cluster, so no two kept records are near-duplicates."""
    angles = np.radians([0.0, 10.0, 20.0])
    signatures = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    threshold = float(np.cos(np.radians(12)))
    keys = [("x", 0), ("x", 1), ("x", 2)]
    result = curate.find_duplicates(
        keys,
        np.zeros((3, 1), np.uint64),
        signatures,
        similarity=curate.cosine_similarity,
        threshold=threshold,
    )
    assert result.drop == {("x", 1), ("x", 2)}
    assert result.clusters == 1


def test_records_below_the_threshold_or_without_a_shared_band_stay() -> None:
    keys = [("a", 0), ("b", 0)]
    same = _vectors([1, 0], [1, 0])
    apart = np.array([[1], [2]], dtype=np.uint64)
    kwargs = {"similarity": curate.cosine_similarity, "threshold": 0.9}
    assert curate.find_duplicates(keys, apart, same, **kwargs).drop == frozenset()
    assert curate.find_duplicates(keys[:1], apart[:1], same[:1], **kwargs).drop == frozenset()
    different = _vectors([1, 0], [0, 1])
    assert curate.find_duplicates(keys, np.zeros((2, 1), np.uint64), different, **kwargs).drop == frozenset()
