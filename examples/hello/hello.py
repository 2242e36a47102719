"""A small distributed Ray program: estimate pi with Monte Carlo samples spread over Ray tasks."""

import argparse
import os
import random
import socket
import time

import ray


@ray.remote(num_cpus=0.5)
def sample(seed: int, points: int) -> tuple[int, str, int]:
    rng = random.Random(seed)
    inside = sum(1 for _ in range(points) if rng.random() ** 2 + rng.random() ** 2 <= 1.0)
    return inside, socket.gethostname(), os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to keep running (for demos)")
    args = parser.parse_args()

    ray.init()
    started = time.perf_counter()
    results = ray.get([sample.remote(seed, args.points) for seed in range(args.tasks)])
    inside = sum(r[0] for r in results)
    workers = {(host, pid) for _, host, pid in results}
    estimate = 4.0 * inside / (args.tasks * args.points)
    print(f"tasks={args.tasks} workers={len(workers)} seconds={time.perf_counter() - started:.2f}")
    print(f"pi is about {estimate:.4f}")
    time.sleep(args.sleep)
    print("hello from Park: done")


if __name__ == "__main__":
    main()
