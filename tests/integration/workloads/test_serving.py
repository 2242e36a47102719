"""The serving app on a private local Ray with Serve on loopback: disaggregated, monolithic and MoE
modes, prefix-aware routing, the KV cache's trip through the object store, the OpenAI client, and a
decode replica killed mid-stream."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import ray
import torch
from ray import serve

from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab, load_charlm, save_charlm
from park.workloads.serve.app import build
from park.workloads.serve.calls import PrefillResult
from park.workloads.serve.engine import CharLMEngine, SamplingParams
from park.workloads.serve.kv import KVCacheCorrupted, KVPayload

pytestmark = pytest.mark.integration

VOCAB = CharVocab("abcdefghijklmnopqrstuvwxyz .,:\n")
PROMPTS = ["the quick brown fox", "jumps over the lazy dog.", "a", "hello, world: again"]
LONG_BLOCK = 1024  # room for a stream long enough to kill its replica in the middle of it


def _save(directory: Path, *, seed: int, **config: Any) -> Path:
    """A random model with weights wider than the usual init, so logits are decisive and text varies."""
    torch.manual_seed(seed)
    model = CharLM(CharLMConfig(vocab_size=len(VOCAB), n_head=4, d_model=32, n_layer=2, **config)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("weight") and param.dim() > 1:
                param.normal_(0.0, 0.3)
    save_charlm(directory, model, VOCAB)
    return directory


def greedy_reference(directory: Path, prompt: str, n: int) -> str:
    """Greedy text from the whole-sequence forward pass: no KV cache, no batching, no Serve."""
    loaded = load_charlm(directory)
    ids = VOCAB.encode(prompt, strict=False)
    out: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            out.append(int(loaded.model(torch.tensor([ids + out]))[0, -1].argmax()))
    return VOCAB.decode(out)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Served:
    url: str
    dense: Path
    moe: Path

    def client(self, app: str) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/{app}", timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serving")
    dense = _save(root / "dense", seed=1, block_size=LONG_BLOCK)
    moe = _save(root / "moe", seed=2, block_size=64, n_expert=2, expert_top_k=1)
    port = _free_port()
    ray.init(address="local", num_cpus=8, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        common = {"model": str(dense), "served_model_name": "tiny", "prefix_cache_tokens": 2048}
        serve.run(
            build({**common, "mode": "disaggregated", "num_replicas": {"prefill": 2}}),
            name="dis",
            route_prefix="/dis",
        )
        serve.run(build({**common, "mode": "monolithic"}), name="mono", route_prefix="/mono")
        yield Served(f"http://127.0.0.1:{port}", dense, moe)
    finally:
        serve.shutdown()
        ray.shutdown()


def _complete(client: httpx.Client, prompt: str, max_tokens: int) -> httpx.Response:
    body = {"model": "tiny", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
    return client.post("/v1/completions", json=body)


def test_greedy_output_is_the_same_disaggregated_monolithic_and_local(served: Served) -> None:
    with served.client("dis") as dis, served.client("mono") as mono:
        for prompt in PROMPTS:
            expected = greedy_reference(served.dense, prompt, 24)
            apart, together = _complete(dis, prompt, 24), _complete(mono, prompt, 24)
            assert apart.status_code == together.status_code == 200, (apart.text, together.text)
            assert apart.json()["choices"][0]["text"] == expected
            assert together.json()["choices"][0]["text"] == expected
            park = apart.json()["park"]
            assert park["mode"] == "disaggregated"
            assert park["prefill_replica"] != park["decode_replica"]
            assert apart.headers["x-park-prefill-replica"] == park["prefill_replica"]
            assert together.json()["park"]["prefill_replica"] == together.json()["park"]["decode_replica"]
        assert len({greedy_reference(served.dense, prompt, 24) for prompt in PROMPTS}) > 1  # text varies

        sampled = {"model": "tiny", "prompt": "the quick", "max_tokens": 16, "temperature": 0.9, "seed": 11}
        apart, together = (
            dis.post("/v1/completions", json=sampled),
            mono.post("/v1/completions", json=sampled),
        )
        assert (
            apart.json()["choices"][0]["text"] == together.json()["choices"][0]["text"]
        )  # seeded: same draws


def test_shared_prefix_requests_land_on_the_replica_that_prefilled_it(served: Served) -> None:
    groups = {
        name: f"{name} system prompt: answer briefly, in lower case, and never lie. "
        for name in ("alpha", "bravo", "charlie")
    }
    placed: dict[str, set[str]] = {name: set() for name in groups}
    with served.client("dis") as dis:
        for question in ("who", "what", "when", "where"):
            for name, prefix in groups.items():
                response = _complete(dis, prefix + question, 4)
                assert response.status_code == 200, response.text
                placed[name].add(response.headers["x-park-prefill-replica"])
                if question != "who":  # the replica that prefilled the prefix has its KV cache
                    assert response.json()["park"]["cached_prompt_tokens"] >= 64
    assert all(len(replicas) == 1 for replicas in placed.values()), placed
    status = serve.status().applications["dis"].deployments["prefill"]
    assert status.replica_states.get("RUNNING") == 2


def _prefill_locally(directory: Path, prompt: str, params: SamplingParams) -> PrefillResult:
    engine = CharLMEngine.load(directory)
    cache, logits = engine.prefill(engine.encode(prompt))
    return PrefillResult("direct", cache.to_payload(), int(logits.argmax()), params, "test", 0)


def test_kv_cache_arrives_intact_and_a_corrupted_one_is_refused(served: Served) -> None:
    decode = serve.get_deployment_handle("decode", app_name="dis").options(stream=True)
    params = SamplingParams(max_tokens=10)
    good = _prefill_locally(served.dense, "the quick brown fox", params)
    assert good.payload.nbytes > 2 * 19 * 32 * 4  # keys and values, every layer, every prompt token
    events = list(decode.generate.remote(good))
    assert "".join(event.text for event in events) == greedy_reference(
        served.dense, "the quick brown fox", 10
    )

    keys = np.array(good.payload.keys)
    keys[1, 2, 3, 4] += 0.5  # one value changed in transit; the digest still claims the original
    tampered = KVPayload(keys, good.payload.values, good.payload.tokens, good.payload.digest)
    bad = PrefillResult("tampered", tampered, good.first_token, params, "test", 0)
    with pytest.raises(KVCacheCorrupted):
        list(decode.generate.remote(bad))


def test_openai_client_completions_chat_and_streaming(served: Served) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/dis/v1", api_key="unused", max_retries=0, timeout=60)
    assert [model.id for model in client.models.list()] == ["tiny"]
    completion = client.completions.create(model="tiny", prompt="the quick", max_tokens=8, temperature=0)
    assert completion.choices[0].text == greedy_reference(served.dense, "the quick", 8)
    assert completion.usage is not None and completion.usage.completion_tokens == 8

    messages: Any = [{"role": "user", "content": "hi there"}]
    chat = client.chat.completions.create(model="tiny", messages=messages, max_tokens=6, temperature=0)
    expected_chat = greedy_reference(served.dense, "user: hi there\nassistant: ", 6)
    assert chat.choices[0].message.content == expected_chat
    assert chat.choices[0].message.role == "assistant"

    stream = client.completions.create(
        model="tiny", prompt="the quick", max_tokens=8, temperature=0, stream=True
    )
    assert "".join(chunk.choices[0].text for chunk in stream) == completion.choices[0].text
    chat_stream = client.chat.completions.create(
        model="tiny", messages=messages, max_tokens=6, temperature=0, stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in chat_stream]
    assert "".join(pieces) == expected_chat

    with pytest.raises(openai.BadRequestError, match=r"context|vocabulary"):
        client.completions.create(model="tiny", prompt="0123", max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4", prompt="hi", max_tokens=2)


def test_moe_serving_equals_the_local_moe_model(served: Served) -> None:
    serve.run(
        build({"model": str(served.moe), "mode": "moe", "served_model_name": "tiny"}),
        name="moe",
        route_prefix="/moe",
    )
    try:
        deployments = serve.status().applications["moe"].deployments
        assert {"ingress", "moe", "expert-0", "expert-1"} == set(deployments)
        with served.client("moe") as moe:
            for prompt in PROMPTS[:3]:
                response = _complete(moe, prompt, 12)
                assert response.status_code == 200, response.text
                assert response.json()["choices"][0]["text"] == greedy_reference(served.moe, prompt, 12)
        for index in range(2):  # the MoE layers really ran in the expert deployments
            stats = serve.get_deployment_handle(f"expert-{index}", app_name="moe").stats.remote().result()
            assert stats["calls"] > 0, stats
    finally:
        serve.delete("moe")


def test_a_client_that_goes_away_leaves_the_decode_batch(served: Served) -> None:
    decode = serve.get_deployment_handle("decode", app_name="dis")
    before = decode.stats.remote().result()["decode_steps"]
    wanted = LONG_BLOCK - 20
    body = {"model": "tiny", "prompt": "the quick", "max_tokens": wanted, "temperature": 0, "stream": True}
    with served.client("dis") as dis, dis.stream("POST", "/v1/completions", json=body) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line).startswith("data: {")
    deadline = time.monotonic() + 20
    while (stats := decode.stats.remote().result())["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats["active"] == 0, stats
    assert stats["decode_steps"] - before < wanted // 2  # it stopped early, not at the end of its tokens


def _decode_actor(replica: str) -> Any:
    """The actor of the decode replica whose id the response header named."""
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["name"].endswith(f"dis#decode#{replica}"):
            return ray.get_actor(actor["name"], namespace=actor["namespace"])
    raise AssertionError(f"no decode replica {replica}")


def test_a_decode_replica_killed_mid_stream_ends_the_stream_cleanly(served: Served) -> None:
    body = {
        "model": "tiny",
        "prompt": "the quick",
        "max_tokens": LONG_BLOCK - 20,
        "temperature": 0,
        "stream": True,
    }
    started = time.monotonic()
    lines: list[str] = []
    with served.client("dis") as dis, dis.stream("POST", "/v1/completions", json=body) as response:
        assert response.status_code == 200
        actor = _decode_actor(response.headers["x-park-decode-replica"])
        chunks = response.iter_lines()
        lines.append(next(line for line in chunks if line))
        ray.kill(actor)
        lines.extend(line for line in chunks if line)
    assert time.monotonic() - started < 60
    assert lines[-1] == "data: [DONE]"
    assert lines[-3] == "event: error", lines[-4:]
    error = json.loads(lines[-2].removeprefix("data: "))["error"]
    assert error["type"] == "server_error" and error["code"] == "replica_lost"
    tokens = sum(1 for line in lines if line.startswith("data: {") and '"choices"' in line)
    assert 1 <= tokens < LONG_BLOCK - 20  # the kill landed in the middle of the stream

    # Nothing was sent yet: a request that meets the dead replica is retried (or fails cleanly, never hangs).
    with served.client("dis") as dis:
        after = _complete(dis, "the quick", 8)
    assert after.status_code in (200, 503), after.text
    if after.status_code == 200:
        assert after.json()["choices"][0]["text"] == greedy_reference(served.dense, "the quick", 8)
    else:
        assert after.json()["error"]["code"] == "replica_lost"
