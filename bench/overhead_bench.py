"""Platform overhead: submit → job Running through Park, against submitting the same program straight
to the Ray Jobs API of the same Ray head, in the same run (alternating, so machine noise hits both alike).

Two pairs, each printed as a ratio Park / direct (aim: <= 1.2):
- API: a ParkJob created through Park's REST API vs a POST to Ray's Jobs API;
- CLI: `park apply -f job.yaml` vs `ray job submit --no-wait`, both as fresh processes, as a user types them.

    python bench/overhead_bench.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from park.client import ParkClient
from park.core.loading import parse_resource

PROGRAM_ARGV = ["python", "-c", "import time; time.sleep(1)"]
PROGRAM = "python -c 'import time; time.sleep(1)'"
POLL_S = 0.02


def wait_until(predicate, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(POLL_S)


def start_park(state: Path) -> subprocess.Popen[bytes]:
    env = {"PARK_STATE_DIR": str(state), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "park", "up", "--port", "0", "--federation-port", "0", "--cpus", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until((state / "server.json").exists)
    return process


def wait_for_phase(client: ParkClient, name: str, *, since: int) -> None:
    """Follow the watch stream (no polling: on 2 cores a polling client slows Ray down)."""
    for change in client.watch(resource_version=since, kinds="jobs"):
        obj = change["object"]
        if obj["metadata"]["name"] == name and obj["status"].get("phase") in ("Running", "Succeeded"):
            return


def direct_run(http: httpx.Client) -> float:
    """Time from POST /api/jobs/ until Ray reports RUNNING."""
    sid = f"direct-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    http.post("/api/jobs/", json={"entrypoint": PROGRAM, "submission_id": sid}).raise_for_status()
    wait_until(lambda: http.get(f"/api/jobs/{sid}").json()["status"] in ("RUNNING", "SUCCEEDED"))
    elapsed = time.perf_counter() - started
    wait_until(lambda: http.get(f"/api/jobs/{sid}").json()["status"] == "SUCCEEDED")
    return elapsed


def park_run(client: ParkClient, index: int) -> float:
    """Time from the ParkJob create call until its status says Running."""
    name = f"bench-{index}"
    job = parse_resource(
        {
            "apiVersion": "park.dev/v1alpha1",
            "kind": "ParkJob",
            "metadata": {"name": name},
            "spec": {"entrypoint": PROGRAM},
        }
    )
    started = time.perf_counter()
    created = client.create(job)
    wait_for_phase(client, name, since=int(created.metadata.resource_version or 0))
    elapsed = time.perf_counter() - started
    wait_until(lambda: client.get("jobs", "default", name).status.phase == "Succeeded")
    return elapsed


def cli_park_run(env: dict[str, str], directory: Path, index: int, client: ParkClient) -> float:
    name = f"cli-{index}"
    manifest = directory / f"{name}.yaml"
    manifest.write_text(
        f"apiVersion: park.dev/v1alpha1\nkind: ParkJob\nmetadata: {{name: {name}}}\n"
        f"spec: {{entrypoint: {json.dumps(PROGRAM)}}}\n"
    )
    since = client.resource_version()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "park", "apply", "-f", str(manifest)], env=env, check=True, capture_output=True
    )
    wait_for_phase(client, name, since=since)
    elapsed = time.perf_counter() - started
    wait_until(lambda: client.get("jobs", "default", name).status.phase == "Succeeded")
    return elapsed


def cli_direct_run(env: dict[str, str], http: httpx.Client) -> float:
    sid = f"direct-cli-{uuid.uuid4().hex[:8]}"
    ray = str(Path(sys.executable).parent / "ray")
    started = time.perf_counter()
    subprocess.run(
        [ray, "job", "submit", "--no-wait", "--submission-id", sid, "--", *PROGRAM_ARGV],
        env=env,
        check=True,
        capture_output=True,
    )
    wait_until(lambda: http.get(f"/api/jobs/{sid}").json()["status"] in ("RUNNING", "SUCCEEDED"))
    elapsed = time.perf_counter() - started
    wait_until(lambda: http.get(f"/api/jobs/{sid}").json()["status"] == "SUCCEEDED")
    return elapsed


def report(label: str, direct: list[float], park: list[float]) -> None:
    d, p = statistics.median(direct), statistics.median(park)
    print(
        f"{label}: submit → Running, median of {len(direct)}: direct {d:.3f}s, park {p:.3f}s, "
        f"ratio park/direct = {p / d:.2f}  (aim <= 1.2)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="park-bench-") as tmp:
        state = Path(tmp) / "state"
        process = start_park(state)
        try:
            server = json.loads((state / "server.json").read_text())["url"]
            client = ParkClient(server, (state / "admin.token").read_text().strip())
            wait_until(
                lambda: client.get("clusters", "default", "default").status.phase == "Ready", timeout=180
            )
            head = json.loads((state / "ray" / "default.default" / "head.json").read_text())
            token = (state / "ray" / "default.default" / "token").read_text().strip()
            http = httpx.Client(
                base_url=head["dashboard_url"], headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            park_run(client, 0)  # warm both paths once: the first job on a head pays for worker start-up
            direct_run(http)
            direct, park, cli_direct, cli_park = [], [], [], []
            env = {
                **os.environ,
                "PARK_STATE_DIR": str(state),
                "RAY_API_SERVER_ADDRESS": head["dashboard_url"],
                "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": str(state / "ray" / "default.default" / "token"),
            }
            for index in range(1, args.runs + 1):
                direct.append(direct_run(http))
                park.append(park_run(client, index))
                cli_direct.append(cli_direct_run(env, http))
                cli_park.append(cli_park_run(env, Path(tmp), index, client))
                print(
                    f"run {index}: API direct {direct[-1]:.3f}s park {park[-1]:.3f}s | "
                    f"CLI direct {cli_direct[-1]:.3f}s park {cli_park[-1]:.3f}s"
                )
        finally:
            process.terminate()
            process.wait(120)
    print()
    report("API (REST call)", direct, park)
    report("CLI (park apply vs ray job submit)", cli_direct, cli_park)


if __name__ == "__main__":
    main()
