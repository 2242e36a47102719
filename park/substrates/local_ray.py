"""The embedded substrate: one local Ray head per ParkCluster, reached through Ray's REST APIs.

State of a cluster lives in `<state_dir>/ray/<key>/`: `token` (0600, Ray's token auth), `head.json`
(how to find and recognise the head) and `head.log` (output of `ray start`). Heads run in their
own session, so they survive Ctrl-C and a SIGKILL of `park up`; the next `ensure_cluster` adopts
a head that is alive, answers with its token, and was started with the same config.
The control plane never calls `ray.init`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from park.core.errors import InvalidError, SubstrateError
from park.core.processes import pid_alive
from park.substrates import _ray_dashboard as dashboard
from park.substrates import _ray_head as head
from park.substrates import _ray_serve as serve
from park.substrates.interface import (
    ClusterDeclaration,
    ClusterHandle,
    ClusterObservation,
    HeadConfig,
    JobInfo,
    JobSubmission,
    ServeApplicationState,
    ServeDeclaration,
)

logger = logging.getLogger(__name__)

_KEY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")  # namespace.name, both DNS labels
_ADOPT_PATIENCE_S = 10.0  # a busy head may answer slowly; never kill one that is merely slow
_PROBE_TIMEOUT_S = 2.0


class LocalRaySubstrate:
    """`ClusterSubstrate` and `JobSubstrate` on local Ray heads. Thread-safe per cluster key."""

    def __init__(
        self, *, state_dir: Path, ray_executable: str | None = None, start_timeout_s: float = 90.0
    ) -> None:
        self._state_dir = state_dir
        self._ray_executable = ray_executable
        self._start_timeout_s = start_timeout_s
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # ClusterSubstrate

    def ensure_cluster(self, key: str, config: HeadConfig) -> ClusterHandle:
        with self._lock(key):
            record = self._read_record(key)
            if record is not None:
                handle = self._handle(key, record)
                if self._patiently_healthy(handle):
                    if handle.config == config:
                        logger.info("adopting Ray head pid %d of cluster %s", handle.pid, key)
                        return handle
                    logger.info("config of cluster %s changed; restarting its Ray head", key)
                else:
                    logger.warning("Ray head pid %d of cluster %s is gone or unresponsive", handle.pid, key)
                head.stop_head(handle.pid)
                self._record_path(key).unlink(missing_ok=True)
            return self._start(key, config)

    def get_cluster(self, key: str) -> ClusterHandle | None:
        record = self._read_record(key)
        if record is None:
            return None
        handle = self._handle(key, record)
        if pid_alive(handle.pid) and dashboard.probe(
            handle.dashboard_url, handle.token, timeout_s=_PROBE_TIMEOUT_S
        ):
            return handle
        return None

    def stop_cluster(self, key: str) -> None:
        """Stop the head and everything below it (job drivers included); idempotent."""
        with self._lock(key):
            record = self._read_record(key)
            if record is not None:
                head.stop_head(int(record["pid"]))
                self._record_path(key).unlink(missing_ok=True)
            shutil.rmtree(self._temp_dir(key), ignore_errors=True)

    def cluster_resources(self, handle: ClusterHandle) -> dict[str, float]:
        return dashboard.cluster_resources(handle)

    # ClusterRunner: a ParkCluster is one head advertising the cluster's total

    def observe_cluster(self, key: str, declaration: ClusterDeclaration) -> ClusterObservation:
        """A head that answers is ready; one started with another config runs an older spec."""
        handle = self.get_cluster(key)
        if handle is None:
            return ClusterObservation(handle=None, resources={})
        return ClusterObservation(
            handle=handle,
            resources=self.cluster_resources(handle),
            current=handle.config == declaration.total,
            message=f"Ray head running (pid {handle.pid})",
        )

    def declare_cluster(self, key: str, declaration: ClusterDeclaration) -> None:
        self.ensure_cluster(key, declaration.total)

    # JobSubstrate

    def submit_job(self, handle: ClusterHandle, submission: JobSubmission) -> bool:
        return dashboard.submit_job(handle, submission)

    def get_job(self, handle: ClusterHandle, submission_id: str) -> JobInfo | None:
        return dashboard.get_job(handle, submission_id)

    def job_logs(self, handle: ClusterHandle, submission_id: str) -> str:
        return dashboard.job_logs(handle, submission_id)

    def stop_job(self, handle: ClusterHandle, submission_id: str) -> bool:
        return dashboard.stop_job(handle, submission_id)

    # ServeSubstrate

    def deploy_applications(self, handle: ClusterHandle, declaration: ServeDeclaration) -> None:
        serve.deploy_applications(handle, declaration.applications)

    def serve_applications(self, handle: ClusterHandle) -> dict[str, ServeApplicationState]:
        return serve.serve_applications(handle)

    def check_applications(self, applications: list[dict[str, Any]]) -> None:
        serve.check_applications(applications)

    # starting

    def _start(self, key: str, config: HeadConfig) -> ClusterHandle:
        cluster_dir = self._cluster_dir(key)
        cluster_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        token_path = cluster_dir / "token"
        token = _ensure_token(token_path)
        temp_dir = self._temp_dir(key)
        (temp_dir / "ray_current_cluster").unlink(missing_ok=True)  # Ray rewrites it when up
        log_path = cluster_dir / "head.log"
        try:
            ports = head.choose_ports(num_workers_hint=config.num_cpus, seed=temp_dir.name)
            argv = head.head_argv(ray=self._ray(), config=config, ports=ports, temp_dir=temp_dir)
            pid = head.spawn_head(
                argv=argv, env=head.head_env(token_path=token_path, base=os.environ), log_path=log_path
            )
        except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: a platform without setsid spawn
            raise SubstrateError(f"cannot start a Ray head for cluster {key}: {exc}") from exc
        logger.info("starting Ray head pid %d for cluster %s (dashboard port %d)", pid, key, ports.dashboard)
        record: dict[str, Any] = {
            "pid": pid,
            "pgid": pid,  # a session leader leads its own process group
            "dashboard_url": f"http://127.0.0.1:{ports.dashboard}",
            "gcs_address": "",
            "config": dataclasses.asdict(config),
            "started_at": datetime.now(UTC).isoformat(),
            "temp_dir": str(temp_dir),
            "serve_port": ports.serve,
            "ports": {
                **ports.named,
                "min-worker-port": ports.min_worker_port,
                "max-worker-port": ports.max_worker_port,
            },
        }
        self._write_record(key, record)  # before waiting: a SIGKILLed `park up` must find this head
        try:
            record["gcs_address"] = self._wait_ready(key, record, token, temp_dir, log_path)
        except SubstrateError:
            head.kill_head(pid)
            self._record_path(key).unlink(missing_ok=True)
            raise
        self._write_record(key, record)
        logger.info("Ray head of cluster %s is up at %s", key, record["dashboard_url"])
        return self._handle(key, record)

    def _wait_ready(
        self, key: str, record: dict[str, Any], token: str, temp_dir: Path, log_path: Path
    ) -> str:
        """Wait until the Jobs API answers with our token; return the GCS address Ray chose."""
        pid, url = int(record["pid"]), str(record["dashboard_url"])
        gcs_port = int(record["ports"]["port"])
        address_file = temp_dir / "ray_current_cluster"
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                raise SubstrateError(
                    f"Ray head of cluster {key} exited while starting: "
                    f"{head.log_tail(log_path)} (see {log_path})"
                )
            address = _read_text(address_file)
            if address.endswith(f":{gcs_port}") and dashboard.probe(url, token, timeout_s=_PROBE_TIMEOUT_S):
                return address
            time.sleep(0.25)
        raise SubstrateError(
            f"Ray head of cluster {key} did not answer within {self._start_timeout_s:.0f} s: "
            f"{head.log_tail(log_path)} (see {log_path})"
        )

    def _patiently_healthy(self, handle: ClusterHandle) -> bool:
        deadline = time.monotonic() + _ADOPT_PATIENCE_S
        while head.is_ray_head(handle.pid):
            if dashboard.probe(handle.dashboard_url, handle.token, timeout_s=3.0):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return False

    def _ray(self) -> str:
        if self._ray_executable is not None:
            found = shutil.which(self._ray_executable)
        else:
            beside_python = Path(sys.executable).with_name("ray")
            found = str(beside_python) if beside_python.exists() else shutil.which("ray")
        if found is None:
            raise SubstrateError(
                "the `ray` command was not found; install park with its Ray dependency or set ray_executable"
            )
        return found

    # state files

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _cluster_dir(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise InvalidError(f"invalid cluster key {key!r}: expected namespace.name")
        return self._state_dir / "ray" / key

    def _temp_dir(self, key: str) -> Path:
        # Ray puts unix sockets under --temp-dir; their paths must stay under ~107 characters.
        digest = hashlib.sha256(f"{self._state_dir.resolve()}\0{key}".encode()).hexdigest()[:8]
        return Path("/tmp") / f"park-ray-{digest}"  # noqa: S108 - short by design, unique per cluster

    def _record_path(self, key: str) -> Path:
        return self._cluster_dir(key) / "head.json"

    def _read_record(self, key: str) -> dict[str, Any] | None:
        try:
            record = json.loads(self._record_path(key).read_text())
            HeadConfig(**record["config"])
            int(record["pid"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable %s: %s", self._record_path(key), exc)
            return None
        return dict(record)

    def _write_record(self, key: str, record: dict[str, Any]) -> None:
        path = self._record_path(key)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
        tmp.replace(path)

    def _handle(self, key: str, record: dict[str, Any]) -> ClusterHandle:
        return ClusterHandle(
            key=key,
            dashboard_url=str(record["dashboard_url"]),
            gcs_address=str(record["gcs_address"]),
            token=_read_text(self._cluster_dir(key) / "token"),
            pid=int(record["pid"]),
            config=HeadConfig(**record["config"]),
            serve_url=f"http://127.0.0.1:{record['serve_port']}" if record.get("serve_port") else "",
        )


def _ensure_token(path: Path) -> str:
    """The cluster's token, created once (0600) and reused by every head of that cluster."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        path.chmod(0o600)
        return path.read_text().strip()
    token = secrets.token_hex(32)
    with os.fdopen(fd, "w") as file:
        file.write(token)
    return token


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
