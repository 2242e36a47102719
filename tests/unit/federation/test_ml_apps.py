"""Machine-learning work apps and their checks: honest results match, every adversary is a mismatch."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from park.federation import ml_apps
from park.federation.verification import checks
from park.federation.verification.checks import (
    check_commitment,
    check_eval_sample,
    compare_embeddings,
    compare_exact,
    duplicated_rows,
)

CONFIG = {"n_layer": 2, "d_model": 64, "n_head": 4, "block_size": 64}
MODEL = {"config": CONFIG, "seed": 7}
PROMPT = "Volunteers lend their machines. "
TEXTS = ["A cat sits on the mat.", "Tax revenue rose 4%.", "Nodes run work units in a sandbox."]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Batch-1 decoding of a tiny model is faster on one thread, and the test machine is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _generation(
    prompt: str = PROMPT, new_tokens: int = 64, model: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"model": model or MODEL, "prompt": prompt, "new_tokens": new_tokens}


@pytest.fixture(scope="module")
def honest() -> tuple[dict[str, Any], dict[str, Any]]:
    payload = _generation()
    return payload, ml_apps.generate_commit(payload)


def _committed(payload: dict[str, Any], tokens: list[int]) -> dict[str, Any]:
    """An output for `tokens` whose commitment is computed honestly for them (teacher-forced)."""
    config, seed, prompt, _ = ml_apps.generate_spec(payload)
    hidden, _ = ml_apps.replay(ml_apps.testbed_model(config, seed), prompt, tokens)
    commitment = base64.b64encode(ml_apps.encode_commitment(hidden)).decode()
    return {
        "tokens": tokens,
        "text": ml_apps.vocab().decode(tokens),
        "commitment": commitment,
        "chunk": 32,
        "k": 64,
    }


# ---- generate-commit ----------------------------------------------------------------------------------


def test_hidden_states_are_those_of_the_models_forward() -> None:
    config, seed = ml_apps.model_spec({"model": MODEL})
    model = ml_apps.testbed_model(config, seed)
    idx = torch.tensor([ml_apps.vocab().encode(PROMPT)])
    with torch.inference_mode():
        hidden, logits = ml_apps.hidden_and_logits(model, idx)
        assert torch.equal(logits, model(idx))
        assert torch.equal(model.head(hidden), logits)


def test_the_testbed_model_is_its_seeded_initialisation_and_leaves_the_random_state_alone() -> None:
    config, _ = ml_apps.model_spec({"model": MODEL})
    before = torch.get_rng_state()
    ml_apps.testbed_model.cache_clear()
    first = ml_apps.testbed_model(config, 11).state_dict()
    assert torch.equal(torch.get_rng_state(), before)
    ml_apps.testbed_model.cache_clear()
    again = ml_apps.testbed_model(config, 11).state_dict()
    other = ml_apps.testbed_model(config, 12).state_dict()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["tok_emb.weight"], other["tok_emb.weight"])


def test_honest_generation_is_deterministic_greedy_and_matches(
    honest: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    payload, output = honest
    assert compare_exact(output, ml_apps.generate_commit(payload)).verdict == "match"
    assert len(output["tokens"]) == 64 and output["text"] == ml_apps.vocab().decode(output["tokens"])
    assert (output["chunk"], output["k"]) == (32, 64)
    check = check_commitment(payload, output)
    assert check.verdict == "match", check.detail
    assert check.measures["overlap"] == 1.0 and check.measures["deficit"] == 0.0
    assert check.measures["max_value_error"] <= 2**-11  # float16's rounding, nothing more


@pytest.mark.parametrize(
    ("prompt", "new_tokens"),
    [("x" * 100, 40), ("Hi", 70)],
    ids=["prompt-past-block-size", "short-last-chunk"],
)
def test_honest_generation_matches_past_block_size_and_with_a_short_last_chunk(
    prompt: str, new_tokens: int
) -> None:
    payload = _generation(prompt, new_tokens)
    output = ml_apps.generate_commit(payload)
    assert len(base64.b64decode(output["commitment"])) == ml_apps.commitment_size(new_tokens, 64)
    check = check_commitment(payload, output)
    assert check.verdict == "match", check.detail
    assert check_commitment(payload, output, chunks=[1]).verdict == "match"  # a spot check


def test_commitment_bytes_per_32_tokens_are_the_documented_ones(
    honest: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, output = honest  # 64 tokens: two chunks
    assert len(base64.b64decode(output["commitment"])) == 2 * 256
    assert "**256 bytes per 32 tokens**" in (ml_apps.__doc__ or "")
    assert ml_apps.commitment_size(32, 64) == ml_apps.commitment_size(32, 2048) == 256  # uint16 indices
    assert ml_apps.commitment_size(32, 4096) == 384  # uint32 indices past 65,536 entries per chunk
    assert len(base64.b64encode(bytes(256))) == 344


def _smaller_layers(payload: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    return ml_apps.generate_commit({**payload, "model": {"config": {**CONFIG, "n_layer": 1}, "seed": 7}})


def _narrower(payload: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    return ml_apps.generate_commit({**payload, "model": {"config": {**CONFIG, "d_model": 32}, "seed": 7}})


def _random_tokens(payload: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(3)
    return _committed(payload, [rng.randrange(95) for _ in output["tokens"]])


def _other_prompts_commitment(payload: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    other = ml_apps.generate_commit({**payload, "prompt": "Something else entirely, 42 times! "})
    return {**output, "commitment": other["commitment"]}


def _second_best_token(payload: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    """One token swapped for the runner-up (where the two are furthest apart), honestly committed."""
    tokens = list(output["tokens"])
    config, seed, prompt, _ = ml_apps.generate_spec(payload)
    _, logits = ml_apps.replay(ml_apps.testbed_model(config, seed), prompt, tokens)
    top2 = logits.topk(2, dim=-1)
    position = int((top2.values[:, 0] - top2.values[:, 1]).argmax())
    tokens[position] = int(top2.indices[position, 1])
    return _committed(payload, tokens)


def _truncated_commitment(payload: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    data = base64.b64decode(output["commitment"])
    return {**output, "commitment": base64.b64encode(data[:-4]).decode()}


@pytest.mark.parametrize(
    "adversary",
    [
        _smaller_layers,
        _narrower,
        _random_tokens,
        _other_prompts_commitment,
        _second_best_token,
        _truncated_commitment,
    ],
)
def test_generation_adversaries_mismatch(
    adversary: Any, honest: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    payload, output = honest
    check = check_commitment(payload, adversary(payload, output))
    assert check.verdict == "mismatch", check.detail


def test_generation_payloads_are_checked() -> None:
    bad = [
        {**_generation(), "new_tokens": 513},
        {**_generation(), "prompt": "caf\u00e9"},
        {**_generation(), "prompt": ""},
        _generation(model={"config": {**CONFIG, "vocab_size": 96}, "seed": 1}),
        _generation(model={"config": {**CONFIG, "n_layers": 2}, "seed": 1}),
        _generation(model={"config": CONFIG, "seed": True}),
        _generation(model={"config": {**CONFIG, "d_model": 4096, "n_layer": 64}, "seed": 1}),
    ]
    for payload in bad:
        with pytest.raises((ValueError, TypeError)):
            ml_apps.generate_commit(payload)
        assert check_commitment(payload, {}).verdict == "mismatch"


# ---- eval-shard ---------------------------------------------------------------------------------------


def test_score_windows_score_every_prediction_once() -> None:
    for n, block in [(1, 64), (63, 64), (64, 64), (65, 64), (500, 64), (7, 1), (100, 3)]:
        scored: list[int] = []
        for start, length, first in ml_apps.score_windows(n, block):
            assert start >= 0 and length <= block and start + length <= n and start <= first
            scored.extend(range(first, start + length))
        assert scored == list(range(n))


def test_eval_scores_match_and_tampering_mismatches() -> None:
    texts = ["The quick brown fox jumps over the lazy dog.", "ab", "Park " * 40]
    payload = {"model": MODEL, "texts": texts}
    output = ml_apps.eval_shard(payload)
    assert len(output["scores"]) == 3 and output["mean"] == pytest.approx(np.mean(output["scores"]))
    assert all(0 < score < 10 for score in output["scores"])  # about ln(95) = 4.55 for an untrained model
    assert check_eval_sample(payload, output, [0, 2]).verdict == "match"

    tampered = list(output["scores"])
    tampered[2] *= 0.99
    consistent = {"scores": tampered, "mean": ml_apps.mean_of(tampered)}
    assert check_eval_sample(payload, consistent, [2]).verdict == "mismatch"
    assert check_eval_sample(payload, consistent, [0]).verdict == "match"  # a sample can miss it
    assert check_eval_sample(payload, {**output, "mean": output["mean"] + 0.01}, [0]).verdict == "mismatch"
    assert check_eval_sample(payload, {**output, "scores": output["scores"][:2]}, [0]).verdict == "mismatch"
    smaller = ml_apps.eval_shard({**payload, "model": {"config": {**CONFIG, "n_layer": 1}, "seed": 7}})
    assert check_eval_sample(payload, smaller, [1]).verdict == "mismatch"


# ---- embed-text ---------------------------------------------------------------------------------------


def _result(vectors: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(vectors, dtype="<f4").tobytes()
    return {
        "model": "all-MiniLM-L6-v2",
        "dim": 384,
        "rows": len(vectors),
        "vectors": base64.b64encode(data).decode(),
    }


def _matrix(result: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(result["vectors"]), dtype="<f4").reshape(
        result["rows"], result["dim"]
    )


@pytest.fixture(scope="module")
def embedded() -> tuple[dict[str, Any], np.ndarray]:
    """The app's output for TEXTS, and the rows of TEXTS and of a one-word variant of each, embedded
    in one other batch (other padding: honest float noise)."""
    variants = ["A cat sits on a mat.", "Tax revenue rose 5%.", "Nodes run work units in sandboxes."]
    output = ml_apps.embed_text({"texts": TEXTS})
    return output, _matrix(ml_apps.embed_text({"texts": [*TEXTS, *variants]}))


@pytest.mark.timeout(120)
def test_honest_embeddings_match(embedded: tuple[dict[str, Any], np.ndarray]) -> None:
    output, rows = embedded
    assert (output["model"], output["dim"], output["rows"]) == ("all-MiniLM-L6-v2", 384, 3)
    assert np.allclose(np.linalg.norm(_matrix(output), axis=1), 1.0, atol=1e-5)
    assert compare_embeddings(output, output).verdict == "match"
    other_batch = compare_embeddings(output, _result(rows[:3]))
    assert other_batch.verdict == "match", other_batch.detail
    assert duplicated_rows(output, TEXTS) == 0


def test_embedding_adversaries_mismatch(embedded: tuple[dict[str, Any], np.ndarray]) -> None:
    output, rows = embedded
    honest = _matrix(output)
    rng = np.random.default_rng(0)
    random_rows = rng.normal(size=honest.shape)
    duplicated = honest.copy()
    duplicated[2] = duplicated[0]
    adversaries = {
        "random vectors": _result(random_rows / np.linalg.norm(random_rows, axis=1, keepdims=True)),
        "other texts": _result(rows[3:]),
        "duplicated rows": _result(duplicated),
        "rows shuffled": _result(honest[::-1]),
        "wrong rows": _result(honest[:2]),
        "wrong model": {**output, "model": "all-mpnet-base-v2"},
        "not base64": {**output, "vectors": "%%%"},
    }
    for name, result in adversaries.items():
        assert compare_embeddings(output, result).verdict == "mismatch", name
    assert duplicated_rows(adversaries["duplicated rows"], TEXTS) == 1
    assert duplicated_rows(adversaries["duplicated rows"], [TEXTS[0], TEXTS[1], TEXTS[0].upper()]) == 0
    assert duplicated_rows(adversaries["wrong rows"], TEXTS) == -1


def test_texts_the_model_reads_alike_are_no_duplicates(embedded: tuple[dict[str, Any], np.ndarray]) -> None:
    output, _ = embedded
    same = _matrix(output)[[0, 0, 0]]
    # The model lowercases, strips accents, reads 256 word pieces and a word of 100+ letters as [UNK].
    alike = [
        ["Cafe au lait.", "caf\u00e9  AU lait.", "CAFE AU LAIT."],
        ["x" * 3000, "x" * 2999 + "y", "z" * 500],
        ["word " * 1000, "word " * 999 + "words", "word " * 300],
    ]
    for texts in alike:
        assert duplicated_rows(_result(same), texts) == 0, texts[0][:20]
    assert duplicated_rows(_result(same), ["word " * 200, "word " * 201, "word " * 202]) == 2


def test_embeddings_a_little_beyond_float_noise_are_inconclusive(
    embedded: tuple[dict[str, Any], np.ndarray],
) -> None:
    output, _ = embedded
    nudged = _matrix(output).copy()
    nudged[1, 5] += 5e-3  # cosine stays above 0.9999, a component moves past 1e-3
    check = compare_embeddings(output, _result(nudged))
    assert check.verdict == "inconclusive", check.detail
    assert check.measures["min_cosine"] > checks.EMBED_MISMATCH_COSINE


# ---- the module as a sandboxed process ----------------------------------------------------------------


def test_apps_run_as_an_isolated_module() -> None:
    payload = {"model": MODEL, "texts": ["Hello, federation."]}
    command = [sys.executable, "-I", "-m", "park.federation.ml_apps", "eval-shard"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, input=json.dumps(payload), capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ml_apps.eval_shard(payload)

    bad = subprocess.run(
        command,
        input=json.dumps({**payload, "texts": ["\u00fcber"]}),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("eval-shard: ValueError: texts[0]")
