"""The work apps a node runs, standard library only: the sandbox runs this file with `python -I`.

    python -I apps.py <app>   reads the payload (JSON) on stdin, writes the output (JSON) on stdout

An app is deterministic in its payload, so a result can be checked by running it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

MAX_ROUNDS = 50_000_000


def sha256_chain(payload: dict[str, Any]) -> dict[str, Any]:
    """SHA-256 applied `rounds` times to `seed`: CPU-bound, deterministic, cheap to re-check."""
    rounds = int(payload["rounds"])
    if not 0 < rounds <= MAX_ROUNDS:
        raise ValueError(f"rounds must be in 1..{MAX_ROUNDS}")
    value = str(payload["seed"]).encode()
    for _ in range(rounds):
        value = hashlib.sha256(value).digest()
    return {"digest": value.hex(), "rounds": rounds}


def probe(payload: dict[str, Any]) -> dict[str, Any]:
    """What the sandbox allows: user, CPUs, GPUs, and whether `connect` (host:port) is reachable."""
    reachable = None
    if payload.get("connect"):
        host, port = str(payload["connect"]).rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            reachable = True
        except OSError:
            reachable = False
    return {
        "uid": os.getuid(),
        "cpus": sorted(os.sched_getaffinity(0)),
        "cudaVisibleDevices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "reachable": reachable,
    }


APPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "sha256-chain": sha256_chain,
    "probe": probe,
}

# Apps that need torch and the model packages: `python -I -m park.federation.ml_apps <app>` runs them with
# the daemon's own interpreter (its virtualenv), see park/federation/ml_apps.py.
ML_APPS = ("embed-text", "generate-commit", "eval-shard")


def known_apps() -> list[str]:
    return sorted([*APPS, *ML_APPS])


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in APPS:
        print(f"usage: apps.py {{{','.join(APPS)}}} < payload.json", file=sys.stderr)
        return 2
    try:
        output = APPS[argv[1]](json.load(sys.stdin))
    except (ValueError, KeyError, TypeError) as err:
        print(f"{argv[1]}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    json.dump(output, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
