"""From `kubectl apply` to a Ray driver running on a real pod: a ParkJob through Park's operator vs the same
RayJob created directly, alternately, on the e2e cluster's real node.

Run from the repository root: `python bench/operator_latency_bench.py [--rounds 3]` (about 6 minutes on 2
cores; it brings up the e2e cluster, `e2e/cluster/up`, when it is not running). Each round times both
paths from the create call to KubeRay's `status.jobStatus: RUNNING` (Ray's Jobs API says the driver
runs), watching the RayJob the same way for both:

1. **Baseline**: the RayJob the operator would make for the job's first attempt (`rayjob_body`, the same
   pod defaults: the runtime image, this machine's Python mounted, the real node), created directly.
2. **Park**: the ParkJob applied into a queue with no limit; Park's scheduler admits it, the job
   controller creates its attempt's RayJob, KubeRay does the rest.

Between runs everything is deleted and the pods are waited for, so each run starts from the same empty
node. Printed: each run, the medians, and Park / baseline (the issue asks for <= 1.2).
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
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from e2e.kube.conftest import kubectl as e2e_kubectl  # noqa: E402
from e2e.kube.test_real_pods import object_store, real_node_pods  # noqa: E402
from park.control.reconcile.submission import build_submission  # noqa: E402
from park.core.loading import parse_resource  # noqa: E402
from park.core.meta import API_GROUP  # noqa: E402
from park.core.resources import ParkJob, PodTemplate  # noqa: E402
from park.operator.crds import VERSION  # noqa: E402
from park.operator.settings import OperatorSettings  # noqa: E402
from park.substrates.kuberay_jobs import rayjob_body  # noqa: E402
from park.substrates.kuberay_specs import job_cluster_spec  # noqa: E402

NAMESPACE = "bench-latency"
QUEUE = "bench-latency"
ENTRYPOINT = "python -c \"print('driver up', flush=True); import time; time.sleep(5)\""
START_TIMEOUT_S = 300.0


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    return e2e_kubectl(kubeconfig, *args, stdin=stdin, check=check).stdout


def cluster_up() -> Path:
    result = subprocess.run(
        [str(REPO / "e2e" / "cluster" / "up")], capture_output=True, text=True, timeout=3600, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"e2e/cluster/up failed:\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1].removeprefix("export KUBECONFIG="))


def job_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{VERSION}",
        "kind": "ParkJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"entrypoint": ENTRYPOINT, "queue": QUEUE},
    }


def direct_rayjob(name: str, settings: OperatorSettings) -> dict[str, Any]:
    """What the operator creates for this job's first attempt, without owner and labels."""
    body = job_body(name)
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    job = parse_resource(body, default_namespace=NAMESPACE)
    assert isinstance(job, ParkJob)
    submission = build_submission(job, 1, jobs_root=settings.jobs_root)
    child = rayjob_body(
        submission,
        cluster=job_cluster_spec(job, None),
        pods=settings.pod_defaults(),
        ray_version=settings.ray_version,
    )
    child["metadata"]["name"] = name
    child["metadata"].pop("ownerReferences")
    child["metadata"].pop("labels")
    return child


def rayjobs(api: k8s.CustomObjectsApi) -> list[dict[str, Any]]:
    listed = api.list_namespaced_custom_object("ray.io", "v1", NAMESPACE, "rayjobs")
    return list(listed.get("items") or [])


def wait_running(api: k8s.CustomObjectsApi, started: float) -> float:
    """Seconds from `started` until the namespace's RayJob says its driver runs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for item in rayjobs(api):
            status = item.get("status") or {}
            if status.get("jobStatus") in ("RUNNING", "SUCCEEDED"):
                return time.perf_counter() - started
            if status.get("jobDeploymentStatus") == "Failed":
                raise SystemExit(f"the RayJob failed: {json.dumps(status)[:500]}")
        time.sleep(0.2)
    raise SystemExit(f"no driver ran within {START_TIMEOUT_S:.0f}s")


def clean(kubeconfig: Path, api: k8s.CoreV1Api) -> None:
    kubectl(kubeconfig, "delete", "parkjobs,rayjobs,rayclusters", "--all", "-n", NAMESPACE, "--wait=true")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and api.list_namespaced_pod(NAMESPACE).items:
        time.sleep(0.5)


def operator_env(kubeconfig: Path) -> tuple[dict[str, str], OperatorSettings]:
    s3 = {k: v for k, v in object_store(kubeconfig).items() if k.startswith("AWS_")}
    pods = real_node_pods()
    pods["env"] = {**pods["env"], **s3}
    jobs_root = f"s3://{object_store(kubeconfig)['PARK_E2E_BUCKET']}/jobs"
    env = {
        "PARK_OPERATOR_PODS": json.dumps(pods),
        "PARK_OPERATOR_JOBS_ROOT": jobs_root,
        "PARK_OPERATOR_LEASE_NAME": "park-bench-latency",
        "PARK_OPERATOR_SCHEDULER_MIN_RUNTIME_SECONDS": "0",
        **s3,
    }
    return env, OperatorSettings(pods=PodTemplate.model_validate(pods), jobs_root=jobs_root)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kubeconfig = cluster_up()
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    client = k8s.ApiClient(configuration)
    api, core = k8s.CustomObjectsApi(client), k8s.CoreV1Api(client)
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "manifests" / "crds"))
    kubectl(kubeconfig, "create", "namespace", NAMESPACE, check=False)
    queue = f"apiVersion: {API_GROUP}/{VERSION}\nkind: ParkQueue\nmetadata: {{name: {QUEUE}}}\nspec: {{}}\n"
    kubectl(kubeconfig, "apply", "-f", "-", stdin=queue)
    env, settings = operator_env(kubeconfig)
    log = Path(tempfile.gettempdir()) / "park-operator-latency.log"
    with log.open("wb") as out:
        operator = subprocess.Popen(
            [sys.executable, "-m", "park", "operator", "run", "--kubeconfig", str(kubeconfig)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=REPO,
        )
    park_s: list[float] = []
    raw_s: list[float] = []
    try:
        clean(kubeconfig, core)
        time.sleep(5)  # the operator's first list and Lease
        for round_ in range(args.rounds):
            started = time.perf_counter()
            body = direct_rayjob(f"direct-{round_}", settings)
            api.create_namespaced_custom_object("ray.io", "v1", NAMESPACE, "rayjobs", body)
            raw_s.append(wait_running(api, started))
            clean(kubeconfig, core)
            started = time.perf_counter()
            api.create_namespaced_custom_object(
                API_GROUP, VERSION, NAMESPACE, "parkjobs", job_body(f"park-{round_}")
            )
            park_s.append(wait_running(api, started))
            clean(kubeconfig, core)
            print(
                f"round {round_ + 1}: RayJob directly {raw_s[-1]:.1f}s, ParkJob {park_s[-1]:.1f}s", flush=True
            )
    except ApiException as exc:
        raise SystemExit(f"the API server refused: {exc.status} {exc.reason}") from exc
    finally:
        operator.terminate()
        operator.wait(20)
        kubectl(kubeconfig, "delete", "namespace", NAMESPACE, "--wait=false", check=False)
        kubectl(kubeconfig, "delete", "parkqueue", QUEUE, "--wait=false", check=False)
    raw, park = statistics.median(raw_s), statistics.median(park_s)
    print()
    print(
        f"== kubectl apply -> Ray driver running on a real pod "
        f"({args.rounds} rounds, load {os.getloadavg()[0]:.1f}) =="
    )
    print(f"RayJob created directly (baseline): median {raw:.1f}s  {[round(s, 1) for s in raw_s]}")
    print(f"ParkJob through Park's operator:    median {park:.1f}s  {[round(s, 1) for s in park_s]}")
    print(f"ratio Park / baseline: {park / raw:.2f}")


if __name__ == "__main__":
    main()
