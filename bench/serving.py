"""LLM serving: Park's serving app against its own baselines, in one run on a private local Ray.

Three comparisons, each printed as a ratio (the model is a randomly initialised charlm, d_model 256,
4 layers, block 512, so a 400-token prefill costs far more than a decode step):

1. Prefix-aware routing vs round-robin, 2 prefill replicas with bounded prefix caches, on a shared-prefix
   workload (7 long "system prompts", short questions, 4 concurrent clients): time to first token and
   throughput. Round-robin sends every prefix to both replicas, whose caches cannot hold them all.
2. Disaggregated (1 prefill + 1 decode replica) vs monolithic (1 replica), mixed load: 4 clients stream
   long generations while 2 others send long prompts with short generations. The p99 inter-token latency
   of the streams shows prefills stalling decode steps in the monolithic replica.
3. Park's path (ingress + monolithic replica, over HTTP) vs the same model in a minimal plain Ray Serve
   deployment (one FastAPI replica running the engine's greedy loop): end-to-end latency (aim <= 1.1).

Each pair alternates rounds so machine noise hits both alike; numbers are medians over the rounds.

    python bench/serving.py [--rounds 3]
"""

# No `from __future__ import annotations`: FastAPI must resolve `PlainServer`'s route annotations at runtime.

import argparse
import asyncio
import itertools
import json
import random
import socket
import statistics
import string
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import ray
import torch
from fastapi import FastAPI
from ray import serve

from park.workloads.models.charlm import CharLM, CharLMConfig, CharVocab, save_charlm
from park.workloads.serve.app import build

ALPHABET = string.ascii_lowercase + " .,:\n"
MODEL = {"d_model": 256, "n_layer": 4, "n_head": 8, "block_size": 512}


def make_checkpoint(directory: Path) -> Path:
    torch.manual_seed(0)
    vocab = CharVocab(ALPHABET)
    save_charlm(directory, CharLM(CharLMConfig(vocab_size=len(vocab), **MODEL)), vocab)
    return directory


def text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_lowercase + " ") for _ in range(n))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def stream_completion(
    client: httpx.AsyncClient, app: str, prompt: str, max_tokens: int
) -> tuple[float, list[float], dict[str, Any]]:
    """(time to first token, inter-token gaps, the first chunk's `park` field) of one streamed request."""
    body = {"model": "bench", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True}
    started = time.perf_counter()
    stamps: list[float] = []
    park: dict[str, Any] = {}
    async with client.stream("POST", f"/{app}/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                stamps.append(time.perf_counter())
                park = park or json.loads(line[6:]).get("park", {})
            elif line.startswith("event: error"):
                raise RuntimeError(f"stream failed: {line}")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return stamps[0] - started, gaps, park


# 1. prefix-aware routing vs round-robin ------------------------------------------------------------

GROUPS, PREFIX_CHARS, REQUESTS, CONCURRENCY = 7, 384, 42, 4


async def shared_prefix_round(url: str, app: str, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    prefixes = [text(random.Random(g), PREFIX_CHARS) for g in range(GROUPS)]  # the same in every round
    prompts = [prefixes[i % GROUPS] + " q: " + text(rng, 12) for i in range(REQUESTS)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for prompt in prompts:
        queue.put_nowait(prompt)
    ttfts: list[float] = []
    cached: list[int] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            ttft, _, park = await stream_completion(client, app, queue.get_nowait(), 4)
            ttfts.append(ttft)
            cached.append(int(park.get("cached_prompt_tokens", 0)))

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    wall = time.perf_counter() - started
    return {
        "ttft_p50": statistics.median(ttfts),
        "ttft_p90": pct(ttfts, 0.9),
        "throughput": REQUESTS / wall,
        "hit_rate": sum(1 for c in cached if c) / len(cached),
    }


def bench_routing(url: str, model: Path, rounds: int) -> None:
    common = {"model": str(model), "served_model_name": "bench", "prefix_cache_tokens": 2400}
    replicas = {"prefill": 2}
    for router in ("prefix", "round_robin"):
        args = {**common, "router": router, "num_replicas": replicas}
        serve.run(build(args), name=router, route_prefix=f"/{router}")
    asyncio.run(shared_prefix_round(url, "prefix", 99))  # warm both: first prefills, imports
    asyncio.run(shared_prefix_round(url, "round_robin", 99))
    results: dict[str, list[dict[str, float]]] = {"prefix": [], "round_robin": []}
    for index in range(rounds):
        for router in ("round_robin", "prefix"):
            results[router].append(asyncio.run(shared_prefix_round(url, router, index)))
            r = results[router][-1]
            print(
                f"  round {index} {router:11s}: TTFT p50 {r['ttft_p50'] * 1000:6.1f} ms, "
                f"p90 {r['ttft_p90'] * 1000:6.1f} ms, {r['throughput']:5.2f} req/s, "
                f"prefix-cache hits {r['hit_rate']:.0%}"
            )
    for router in ("prefix", "round_robin"):
        serve.delete(router)
    med = {r: {k: statistics.median(x[k] for x in v) for k in v[0]} for r, v in results.items()}
    p, rr = med["prefix"], med["round_robin"]
    print(
        f"prefix-aware / round-robin: TTFT p50 ratio {p['ttft_p50'] / rr['ttft_p50']:.2f} (lower is better), "
        f"throughput ratio {p['throughput'] / rr['throughput']:.2f} (higher is better); "
        f"cache hits {p['hit_rate']:.0%} vs {rr['hit_rate']:.0%}"
    )


# 2. disaggregated vs monolithic ---------------------------------------------------------------------

STREAMERS, STREAM_TOKENS, LONG_PROMPTS, LONG_CHARS = 4, 120, 12, 480


async def mixed_round(url: str, app: str, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    gaps: list[float] = []
    storm_done = asyncio.Event()

    async def streamer(client: httpx.AsyncClient) -> None:
        while not storm_done.is_set():
            _, stream_gaps, _ = await stream_completion(client, app, text(rng, 20), STREAM_TOKENS)
            gaps.extend(stream_gaps)

    async def storm(client: httpx.AsyncClient, prompts: list[str]) -> None:
        for prompt in prompts:
            await stream_completion(client, app, prompt, 2)

    long_prompts = [text(rng, LONG_CHARS) for _ in range(LONG_PROMPTS)]
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        streams = [asyncio.create_task(streamer(client)) for _ in range(STREAMERS)]
        await asyncio.sleep(0.5)  # the streams are decoding before the first long prompt lands
        await asyncio.gather(storm(client, long_prompts[::2]), storm(client, long_prompts[1::2]))
        storm_done.set()
        await asyncio.gather(*streams)
    return {"itl_p50": statistics.median(gaps), "itl_p99": pct(gaps, 0.99)}


def bench_disaggregation(url: str, model: Path, rounds: int) -> None:
    common = {"model": str(model), "served_model_name": "bench", "prefix_cache_tokens": 0}
    serve.run(build({**common, "mode": "disaggregated"}), name="dis", route_prefix="/dis")
    serve.run(build({**common, "mode": "monolithic"}), name="mono", route_prefix="/mono")
    results: dict[str, list[dict[str, float]]] = {"dis": [], "mono": []}
    for index in range(rounds):
        for app in ("mono", "dis"):
            results[app].append(asyncio.run(mixed_round(url, app, index)))
            r = results[app][-1]
            print(
                f"  round {index} {app:4s}: ITL p50 {r['itl_p50'] * 1000:6.1f} ms, "
                f"p99 {r['itl_p99'] * 1000:6.1f} ms"
            )
    serve.delete("dis")
    serve.delete("mono")
    med = {a: {k: statistics.median(x[k] for x in v) for k in v[0]} for a, v in results.items()}
    d, m = med["dis"], med["mono"]
    print(
        f"disaggregated / monolithic: ITL p99 ratio {d['itl_p99'] / m['itl_p99']:.2f} (lower is better; "
        f"p99 {d['itl_p99'] * 1000:.1f} vs {m['itl_p99'] * 1000:.1f} ms), "
        f"p50 ratio {d['itl_p50'] / m['itl_p50']:.2f}"
    )


# 3. Park's serving path vs a plain Ray Serve deployment ----------------------------------------------

plain_app = FastAPI()


@serve.deployment(name="plain", ray_actor_options={"num_cpus": 1})
@serve.ingress(plain_app)
class PlainServer:
    """What one writes without Park: one replica, the engine's greedy loop, a JSON answer."""

    def __init__(self, model: str) -> None:
        from park.workloads.serve.engine import CharLMEngine  # noqa: PLC0415 - in the replica

        torch.set_num_threads(1)
        self.engine = CharLMEngine.load(Path(model))

    @plain_app.post("/generate")
    def generate(self, body: dict[str, Any]) -> dict[str, str]:
        tokens = self.engine.encode(body["prompt"])
        cache, logits = self.engine.prefill(tokens)
        out = [int(logits.argmax())]
        while len(out) < body["max_tokens"]:
            [(cache, logits)] = self.engine.decode_step([(cache, out[-1])])
            out.append(int(logits.argmax()))
        return {"text": self.engine.decode_text(out)}


def bench_overhead(url: str, model: Path, rounds: int) -> None:
    serve.run(PlainServer.bind(str(model)), name="plain", route_prefix="/plain")
    args = {"model": str(model), "served_model_name": "bench", "prefix_cache_tokens": 0, "mode": "monolithic"}
    serve.run(build(args), name="park", route_prefix="/park")
    rng = random.Random(7)
    plain: list[float] = []
    park: list[float] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for index in range(10 + 10 * rounds):
            prompt = text(rng, 100)
            started = time.perf_counter()
            a = client.post("/plain/generate", json={"prompt": prompt, "max_tokens": 32}).raise_for_status()
            middle = time.perf_counter()
            body = {"model": "bench", "prompt": prompt, "max_tokens": 32, "temperature": 0}
            b = client.post("/park/v1/completions", json=body).raise_for_status()
            ended = time.perf_counter()
            if a.json()["text"] != b.json()["choices"][0]["text"]:
                raise AssertionError("Park and the plain deployment generated different text")
            if index >= 10:  # the first ten warm both
                plain.append(middle - started)
                park.append(ended - middle)
    serve.delete("plain")
    serve.delete("park")
    p, q = statistics.median(plain), statistics.median(park)
    print(
        f"Park / plain Ray Serve: median latency {q * 1000:.1f} vs {p * 1000:.1f} ms over {len(park)} "
        f"requests (32 tokens, 100-char prompts), ratio {q / p:.2f} (aim <= 1.1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["routing", "disaggregation", "overhead"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="park-serving-bench-") as tmp:
        model = make_checkpoint(Path(tmp) / "model")
        port = free_port()
        ray.init(address="local", num_cpus=8, include_dashboard=False, log_to_driver=False)
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            url = f"http://127.0.0.1:{port}"
            for name, bench in (
                ("routing", bench_routing),
                ("disaggregation", bench_disaggregation),
                ("overhead", bench_overhead),
            ):
                if args.only in (None, name):
                    print(f"== {name}")
                    bench(url, model, args.rounds)
        finally:
            serve.shutdown()
            ray.shutdown()


if __name__ == "__main__":
    main()
