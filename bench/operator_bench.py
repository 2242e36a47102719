"""The Kubernetes operator under a burst: 1,000 ParkJobs applied at once, and its memory as objects grow.

Run from the repository root: `python bench/operator_bench.py` (about 12 minutes on 2 cores; the
e2e cluster's binaries must be built, see e2e/cluster/README.md). It starts a private control plane
(`e2e/cluster/up` with its own state dir and ports), applies Park's CRDs, runs `python -m park operator
run` as a subprocess (admin credentials, one replica, the scheduler on), and in one run measures:

1. **Baseline**: the raw API write time of N RayJobs created directly (the same RayJob body the
   operator makes for an admitted attempt, without owner/labels so nothing reconciles them), from a
   thread pool.
2. **Queued burst**: N ParkJobs created from the same thread pool into a queue whose quota fits none
   (500m cpu; each job asks 1; `cpu: 0` would mean no limit to the scheduler). Done when the scheduler
   wrote every ParkJob's `status.admission` and the job controller showed it (phase `Queued` with the
   scheduler's reason as the message). A queued job has no RayJob: the attempt's RayJob is made on
   admission.
3. **Admission**: the queue's quota raised so all N are admitted. Done when every attempt's RayJob
   exists and every ParkJob shows phase `Submitting`/`Starting`/`Running`. KubeRay then starts a Ray
   cluster per job (pods on kwok's fake nodes); that is KubeRay's work and not timed here.
4. **Memory**: the operator's RSS (VmRSS) settled at N objects, then with queued filler ParkJobs up to
   each `--memory-at` total, and its CPU use while idle (with 1,000 queued, then 1,000 admitted jobs).

Operator time / raw write time is the ratio printed. The operator's log is scanned for errors.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from park.control.reconcile.submission import build_submission
from park.core.loading import parse_resource
from park.core.meta import API_GROUP
from park.core.resources import ParkJob
from park.operator.crds import VERSION
from park.operator.settings import OperatorSettings
from park.substrates.kuberay_jobs import rayjob_body
from park.substrates.kuberay_specs import OWNER_NAME, job_cluster_spec

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "e2e" / "cluster"
STATE = Path.home() / ".cache" / "park" / "e2e-bench"
PORT_BASE = "18400"
RAY = ("ray.io", "v1", "rayjobs")
RUN_NS, RAW_NS, FILL_NS = "bench-run", "bench-raw", "bench-fill"
RUN_QUEUE, HELD_QUEUE = "bench", "bench-held"
# KubeRay's published scale test (docs: "KubeRay ... scalability"), RayClusters ready, on GKE.
KUBERAY_PUBLISHED = ((100, 83.0), (1000, 258.0))


def cluster_env() -> dict[str, str]:
    # kwok nodes only: the real node (one per machine: its bridge and DNS port) stays the e2e cluster's.
    return {
        **os.environ,
        "PARK_E2E_DIR": str(STATE),
        "PARK_E2E_PORT_BASE": PORT_BASE,
        "PARK_E2E_NO_REAL_NODE": "1",
    }


def cluster_up() -> Path:
    result = subprocess.run(
        [str(CLUSTER / "up")], env=cluster_env(), capture_output=True, text=True, timeout=3600, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"e2e/cluster/up failed:\n{result.stderr[-3000:]}")
    last = result.stdout.strip().splitlines()[-1]
    return Path(last.removeprefix("export KUBECONFIG="))


def cluster_down() -> None:
    subprocess.run(
        [str(CLUSTER / "down"), "--purge"], env=cluster_env(), capture_output=True, timeout=300, check=False
    )


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    binary = (
        Path(os.environ.get("PARK_K8S_CACHE", Path.home() / ".cache" / "park" / "k8s")) / "bin" / "kubectl"
    )
    result = subprocess.run(
        [str(binary), *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {result.stderr}")
    return result.stdout


# ---------------------------------------------------------------- objects


def job_body(name: str, namespace: str, queue: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{VERSION}",
        "kind": "ParkJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "entrypoint": "python train.py --epochs 3",
            "queue": queue,
            "priority": 10,
            "resources": {"replicas": 1, "perReplica": {"cpu": 1}},
        },
    }


def raw_rayjob(name: str) -> dict[str, Any]:
    """The RayJob the operator creates for an admitted ParkJob's first attempt, minus owner and labels."""
    body = job_body(name, RAW_NS, RUN_QUEUE)
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    job = parse_resource(body, default_namespace=RAW_NS)
    assert isinstance(job, ParkJob)
    settings = OperatorSettings()
    submission = build_submission(job, 1, jobs_root=settings.jobs_root)
    child = rayjob_body(
        submission,
        cluster=job_cluster_spec(job, None),
        pods=settings.pod_defaults(),
        ray_version=settings.ray_version,
    )
    child["metadata"].pop("ownerReferences")  # the garbage collector would delete an orphan
    child["metadata"].pop("labels")  # the operator would see it as one of its own
    return child


def create_all(api: k8s.CustomObjectsApi, bodies: list[dict[str, Any]], workers: int) -> float:
    """Seconds to create every body from a thread pool (as fast as the API server takes them)."""

    def create(body: dict[str, Any]) -> None:
        group, version = body["apiVersion"].split("/")
        plural = "rayjobs" if body["kind"] == "RayJob" else "parkjobs"
        api.create_namespaced_custom_object(group, version, body["metadata"]["namespace"], plural, body)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(create, bodies))
    return time.perf_counter() - started


# ---------------------------------------------------------------- watching


@dataclass
class Tracker:
    """Follows one namespace's ParkJobs and RayJobs; stamps when each name first meets each milestone."""

    api: k8s.CustomObjectsApi
    namespace: str
    stamps: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for group, version, plural in ((API_GROUP, VERSION, "parkjobs"), RAY):
            threading.Thread(target=self._follow, args=(group, version, plural), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def count(self, milestone: str) -> int:
        with self._lock:
            return sum(1 for s in self.stamps.values() if milestone in s)

    def last(self, milestone: str) -> float:
        with self._lock:
            return max((s[milestone] for s in self.stamps.values() if milestone in s), default=0.0)

    def _stamp(self, name: str, milestone: str) -> None:
        with self._lock:
            self.stamps.setdefault(name, {}).setdefault(milestone, time.perf_counter())

    def _follow(self, group: str, version: str, plural: str) -> None:
        check = self._park if plural == "parkjobs" else self._ray
        since = None
        while not self._stop.is_set():
            try:
                if since is None:
                    listed = self.api.list_namespaced_custom_object(group, version, self.namespace, plural)
                    for item in listed["items"]:
                        check(item)
                    since = listed["metadata"]["resourceVersion"]
                for event in k8s_watch.Watch().stream(
                    self.api.list_namespaced_custom_object,
                    group,
                    version,
                    self.namespace,
                    plural,
                    resource_version=since,
                    timeout_seconds=10,
                ):
                    if event["type"] == "ERROR":
                        since = None
                        break
                    obj = event["raw_object"]
                    since = obj["metadata"]["resourceVersion"]
                    if event["type"] != "DELETED":
                        check(obj)
                    if self._stop.is_set():
                        return
            except ApiException as exc:
                since = None if exc.status == 410 else since
                if exc.status != 410:
                    self.errors.append(f"watch {plural}: {exc.status} {exc.reason}")
                    time.sleep(1)
            except Exception as exc:  # a dropped stream: reconnect
                self.errors.append(f"watch {plural}: {exc!r}"[:200])
                time.sleep(1)

    def _ray(self, obj: dict[str, Any]) -> None:
        name = (obj["metadata"].get("labels") or {}).get(OWNER_NAME)
        if name is not None and obj.get("spec", {}).get("suspend") is not True:
            self._stamp(name, "running")

    def _park(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        status = obj.get("status") or {}
        phase = status.get("phase")
        admission = status.get("admission")
        if phase:
            self._stamp(name, "phase")
        if admission is not None:
            self._stamp(name, "decided")
            if admission.get("admitted"):
                self._stamp(name, "admitted")
        if phase == "Queued" and admission is not None and status.get("message") == admission.get("message"):
            self._stamp(name, "queued-mirrored")
        if phase in ("Submitting", "Starting", "Running") and admission and admission.get("admitted"):
            self._stamp(name, "started-mirrored")


def wait_until(what: str, done: Callable[[], bool], timeout: float, progress: Callable[[], str]) -> bool:
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + 15
    while time.monotonic() < deadline:
        if done():
            return True
        if time.monotonic() >= next_report:
            print(f"  ... {what}: {progress()}", flush=True)
            next_report += 15
        time.sleep(0.2)
    print(f"  TIMED OUT after {timeout:.0f}s waiting for {what}: {progress()}", flush=True)
    return False


# ---------------------------------------------------------------- the operator process


class Operator:
    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "park", "operator", "run", "--kubeconfig", str(kubeconfig)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        self.peak_rss_mb = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def rss_mb(self) -> float:
        return rss_of(self.process.pid)

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _sample(self) -> None:
        while not self._stop.wait(0.5) and self.process.poll() is None:
            self.peak_rss_mb = max(self.peak_rss_mb, self.rss_mb())

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self._stop.set()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def scan_log(log: Path, start: int = 0, end: int | None = None) -> tuple[Counter[str], int]:
    """(distinct error/warning lines with counts, traceback count) in bytes [start, end) of the log."""
    found: Counter[str] = Counter()
    tracebacks = 0
    text = log.read_bytes()[start:end].decode(errors="replace")
    for line in text.splitlines():
        if line.startswith("Traceback"):
            tracebacks += 1
        if " ERROR " in line or " WARNING " in line or "Error" in line.split(":", 1)[0]:
            text = re.sub(r"^\S+ \S+ ", "", line)  # drop the timestamp
            text = re.sub(r"\b[a-z0-9-]*job-\d+\b", "<job>", text)
            found[text[:220]] += 1
    return found, tracebacks


# ---------------------------------------------------------------- the run


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


@dataclass
class Settled:
    objects: int
    rss_mb: float
    idle_cpu_pct: float
    converged: int
    note: str = ""
    kuberay_rss_mb: float = 0.0


def rss_of(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def kuberay_rss_mb() -> float:
    """KubeRay's own operator process, for scale: the e2e cluster records its PID."""
    try:
        return rss_of(int((STATE / "pids" / "kuberay-operator.pid").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return 0.0


def settle(operator: Operator, objects: int, converged: int, window_s: float, note: str = "") -> Settled:
    """RSS after `window_s` of no new work, and the operator's CPU use over that window."""
    before = operator.cpu_s()
    time.sleep(window_s)
    cpu = (operator.cpu_s() - before) / window_s * 100
    return Settled(objects, operator.rss_mb(), cpu, converged, note, kuberay_rss_mb())


@dataclass
class Burst:
    create_s: float = 0.0
    queued: dict[str, float] = field(default_factory=dict)
    queued_cpu_s: float = 0.0
    admitted: dict[str, float] = field(default_factory=dict)
    admitted_cpu_s: float = 0.0


class Bench:
    def __init__(self, args: argparse.Namespace, kubeconfig: Path) -> None:
        self.args = args
        self.n: int = args.jobs
        self.kubeconfig = kubeconfig
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        configuration.connection_pool_maxsize = args.workers + 4
        self.api_client = k8s.ApiClient(configuration)
        self.api = k8s.CustomObjectsApi(self.api_client)
        self.log = Path(tempfile.gettempdir()) / "park-operator-bench.log"  # outlives `down --purge`
        self.operator = Operator(kubeconfig, self.log)
        self.burst = Burst()
        self.memory: list[Settled] = []
        self.watch_errors: list[str] = []
        self.requests: Counter[str] = Counter()
        self.log_end: int | None = None

    def create(self, bodies: list[dict[str, Any]]) -> float:
        return create_all(self.api, bodies, self.args.workers)

    def warm_up(self) -> Settled:
        """One queued job through the whole path, so imports and watches are not timed."""
        warm = Tracker(self.api, FILL_NS)
        warm.start()
        self.create([job_body("warm-up", FILL_NS, HELD_QUEUE)])
        if not wait_until("the warm-up job", lambda: warm.count("queued-mirrored") == 1, 180, lambda: "-"):
            raise SystemExit(f"the operator does not work: see {self.log}")
        warm.stop()
        return settle(self.operator, 1, 1, 10)

    def baseline(self) -> float:
        n = self.n
        raw_s = self.create([raw_rayjob(f"job-{i:05d}") for i in range(n)])
        print(f"baseline: {n} RayJobs created directly in {raw_s:.1f}s ({n / raw_s:.0f}/s), load {load()}")
        return raw_s

    def queued_burst(self, tracker: Tracker) -> None:
        n, burst = self.n, self.burst
        milestones = ("phase", "decided", "queued-mirrored")
        cpu0 = self.operator.cpu_s()
        t0 = time.perf_counter()
        burst.create_s = self.create([job_body(f"job-{i:05d}", RUN_NS, RUN_QUEUE) for i in range(n)])
        print(f"burst: {n} ParkJobs created in {burst.create_s:.1f}s ({n / burst.create_s:.0f}/s)")

        burst.queued, burst.queued_cpu_s = self._converge(
            tracker, milestones, ("queued-mirrored",), "queued burst", t0, cpu0, "all queued"
        )

    def admission(self, tracker: Tracker) -> None:
        """The queue gets quota for all of them: the scheduler admits, the job controller makes RayJobs."""
        n, burst = self.n, self.burst
        milestones = ("admitted", "running", "started-mirrored")
        cpu1 = self.operator.cpu_s()
        t1 = time.perf_counter()
        self.api.patch_cluster_custom_object(
            API_GROUP,
            VERSION,
            "parkqueues",
            RUN_QUEUE,
            # Each job's pods: a 1-CPU head, its 1-CPU worker and KubeRay's 100m submitter (2.1 CPUs).
            {"spec": {"nominalQuota": {"cpu": n * 3}}},
            _content_type="application/merge-patch+json",
        )

        note = "all admitted, KubeRay starting clusters"
        burst.admitted, burst.admitted_cpu_s = self._converge(
            tracker, milestones, ("running", "started-mirrored"), "admission", t1, cpu1, note
        )

    def _converge(
        self,
        tracker: Tracker,
        milestones: tuple[str, ...],
        done: tuple[str, ...],
        what: str,
        started: float,
        cpu_before: float,
        note: str,
    ) -> tuple[dict[str, float], float]:
        """Wait until every object passed the `done` milestones; their times, the operator's cpu, memory."""
        n = self.n

        def progress() -> str:
            return ", ".join(f"{m} {tracker.count(m)}" for m in milestones)

        ok = wait_until(what, lambda: all(tracker.count(m) >= n for m in done), self.args.timeout, progress)
        times = {m: tracker.last(m) - started for m in milestones}
        cpu_s = self.operator.cpu_s() - cpu_before
        print(f"{what} {'done' if ok else 'INCOMPLETE'}: {progress()}, load {load()}")
        self.memory.append(settle(self.operator, n + 1, tracker.count(done[-1]), self.args.settle, note))
        return times, cpu_s

    def fill_to(self, targets: list[int]) -> None:
        """Queued filler ParkJobs up to each total; RSS once they converged and the operator idles."""
        fill = Tracker(self.api, FILL_NS)
        fill.start()
        made = 1  # the warm-up job
        for target in targets:
            extra = target - self.n - made
            if extra <= 0:
                continue
            started = time.perf_counter()
            self.create([job_body(f"fill-{made + i:05d}", FILL_NS, HELD_QUEUE) for i in range(extra)])
            made += extra
            goal = made
            done = wait_until(
                f"{goal} fillers converged",
                lambda goal=goal: fill.count("queued-mirrored") >= goal,
                self.args.timeout,
                lambda: f"queued-mirrored {fill.count('queued-mirrored')}",
            )
            took = time.perf_counter() - started
            total = self.n + made
            print(f"fillers up to {total} ParkJobs: {took:.0f}s ({extra / took:.1f}/s), load {load()}")
            note = f"+{extra} queued fillers, converged at {extra / took:.1f} objects/s"
            converged = fill.count("queued-mirrored") + self.n
            if not done:
                note = f"+{extra} queued fillers; only {converged} converged in {self.args.timeout:.0f}s"
            self.memory.append(settle(self.operator, total, converged, self.args.settle, note))
            if not done or not self.operator.alive():
                break
        fill.stop()
        self.watch_errors += fill.errors

    def diagnose(self) -> None:
        """Before teardown: the API server's request counts for our kinds."""
        metrics = kubectl(self.kubeconfig, "get", "--raw", "/metrics")
        for line in metrics.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if labels.get("resource") in ("parkjobs", "rayjobs", "events", "parkclusters"):
                key = " ".join(
                    (
                        labels["verb"],
                        labels["resource"]
                        + ("/" + labels["subresource"] if labels.get("subresource") else ""),
                        labels["code"],
                    )
                )
                self.requests[key] += int(float(line.rsplit(" ", 1)[1]))

    def close(self) -> None:
        self.log_end = self.log.stat().st_size  # what follows is shutdown
        self.operator.stop()
        self.api_client.close()


def setup(kubeconfig: Path) -> None:
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "manifests" / "crds"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd/parkjobs.park.dev", "--timeout=60s")
    for namespace in (RUN_NS, RAW_NS, FILL_NS):
        kubectl(kubeconfig, "create", "namespace", namespace)
    queues = "---\n".join(
        f"apiVersion: {API_GROUP}/{VERSION}\nkind: ParkQueue\nmetadata: {{name: {name}}}\n"
        "spec: {nominalQuota: {cpu: 500m}}\n"  # jobs need 1 cpu: none fits (`cpu: 0` means no limit)
        for name in (RUN_QUEUE, HELD_QUEUE)
    )
    kubectl(kubeconfig, "apply", "-f", "-", stdin=queues)


def report(bench: Bench, raw_s: float, idle: Settled) -> None:
    n, burst = bench.n, bench.burst
    print()
    print(
        f"== Operator: {n} ParkJobs applied at once ({bench.args.workers} client threads), load {load()} =="
    )
    rows = [
        ("raw API: RayJobs created directly (baseline)", raw_s),
        ("ParkJobs created (client side)", burst.create_s),
        ("every job queued (no RayJob yet)", burst.queued["queued-mirrored"]),
        ("every ParkJob has an operator-written phase", burst.queued["phase"]),
        ("every ParkJob has the scheduler's decision", burst.queued["decided"]),
        ("every decision mirrored (phase Queued, Admitted=False + reason)", burst.queued["queued-mirrored"]),
    ]
    print(f"{'milestone (from the first create)':<68} {'seconds':>8} {'objects/s':>10} {'/ raw':>7}")
    for label, seconds in rows:
        print(f"{label:<68} {seconds:8.1f} {n / seconds:10.1f} {seconds / raw_s:7.2f}")
    cpu = burst.queued_cpu_s
    print(f"  operator CPU for the burst: {cpu:.1f}s ({cpu / n * 1000:.0f} ms per ParkJob)")
    print(f"after the queue gets quota for all {n} (from the patch):")
    for label, key in (
        ("every ParkJob admitted by the scheduler", "admitted"),
        ("every attempt's RayJob created", "running"),
        ("every ParkJob Starting/Running with Admitted=True", "started-mirrored"),
    ):
        seconds = burst.admitted[key]
        print(f"{label:<68} {seconds:8.1f} {n / seconds:10.1f} {seconds / raw_s:7.2f}")
    cpu = burst.admitted_cpu_s
    print(f"  operator CPU for the admission: {cpu:.1f}s ({cpu / n * 1000:.0f} ms per ParkJob)")
    queued_s, started_s = burst.queued["queued-mirrored"], burst.admitted["started-mirrored"]
    print(
        f"ratio, operator time / raw API write time: queued burst {queued_s / raw_s:.2f}, "
        f"queued + admission {(queued_s + started_s) / raw_s:.2f} (raw: {n / raw_s:.0f} objects/s)"
    )
    print()
    print("memory (VmRSS of the operator process, after the settle window):")
    print(f"  idle, 1 object: {idle.rss_mb:.0f} MB")
    for row in bench.memory:
        print(
            f"  {row.objects:>5} ParkJobs, {row.converged} converged: "
            f"{row.rss_mb:6.0f} MB, idle CPU {row.idle_cpu_pct:4.0f}% of a core; "
            f"KubeRay {row.kuberay_rss_mb:.0f} MB  [{row.note}]"
        )
    print(f"  peak RSS seen: {bench.operator.peak_rss_mb:.0f} MB")
    print()
    published = ", ".join(f"{c} RayClusters ready in {s:.0f}s ({c / s:.1f}/s)" for c, s in KUBERAY_PUBLISHED)
    print(f"KubeRay's published scale test (GKE): {published}")
    print(
        "  comparable: object creation/reconcile throughput. Park's operator decided and showed queued\n"
        f"  ParkJobs at {n / queued_s:.1f} objects/s, created their RayJobs at "
        f"{n / burst.admitted['running']:.1f}/s once admitted: the layer Park adds in front of KubeRay.\n"
        "  not comparable: KubeRay's numbers are RayClusters *ready* (pods scheduled, images pulled, Ray\n"
        "  up on real nodes, GKE); here pods run on kwok fake nodes, Ray never starts, on 2 shared cores."
    )
    errors, tracebacks = scan_log(bench.log, 0, bench.log_end)
    print()
    print(f"operator log {bench.log}: {tracebacks} tracebacks, {sum(errors.values())} error/warning lines")
    for text, count in errors.most_common(12):
        print(f"  {count:>5} x {text}")
    shutdown, _ = scan_log(bench.log, bench.log_end or 0)
    for text, count in shutdown.most_common(3):
        print(f"  at shutdown (SIGTERM): {count:>5} x {text}")
    print("API server requests for these kinds (whole run, all clients: bench, operator, KubeRay):")
    for key, count in sorted(bench.requests.items(), key=lambda kv: -kv[1]):
        if count >= 50:
            print(f"  {count:>7} {key}")
    for text, count in Counter(bench.watch_errors).most_common(5):
        print(f"  bench watch: {count} x {text}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000, help="ParkJobs in the burst (default 1000)")
    parser.add_argument("--memory-at", default="1000,5000", help="total ParkJobs to measure RSS at")
    parser.add_argument("--workers", type=int, default=16, help="client threads creating objects")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per phase")
    parser.add_argument("--settle", type=float, default=45, help="seconds idle before reading RSS")
    parser.add_argument("--keep-cluster", action="store_true", help="leave the private cluster running")
    args = parser.parse_args()
    targets = sorted({int(x) for x in args.memory_at.split(",") if x.strip()})

    print(f"load {load()} (1/5/15 min) on {os.cpu_count()} cores; starting a private cluster in {STATE}")
    cluster_down()  # a cluster kept by an earlier run (--keep-cluster) still holds its objects
    started = time.perf_counter()
    kubeconfig = cluster_up()
    print(f"cluster up in {time.perf_counter() - started:.0f}s")
    bench: Bench | None = None
    try:
        setup(kubeconfig)
        bench = Bench(args, kubeconfig)
        idle = bench.warm_up()
        print(f"operator ready: RSS {idle.rss_mb:.0f} MB, load {load()}")
        raw_s = bench.baseline()
        tracker = Tracker(bench.api, RUN_NS)
        tracker.start()
        time.sleep(1)
        bench.queued_burst(tracker)
        bench.admission(tracker)
        tracker.stop()
        bench.watch_errors += tracker.errors
        bench.fill_to(targets)
        bench.diagnose()
    finally:
        if bench is not None:
            bench.close()
        if not args.keep_cluster:
            cluster_down()
    report(bench, raw_s, idle)


if __name__ == "__main__":
    main()
