"""Run one work app in a child process: unprivileged, resource-limited, without network.

- user: when the daemon runs as root it drops to `run_as` (default `nobody`); otherwise work runs
  as the daemon's own (unprivileged) user;
- network: `unshare --net --map-current-user` gives the child an empty network namespace (loopback
  down), so work reaches nothing, not even the mesh; results travel back through the daemon;
- limits: data segment (memory cap), CPU time (`maxCpuSeconds`), open files, no core dumps, CPU
  affinity (the CPU share), `CUDA_VISIBLE_DEVICES` (the GPU cap), nice 10.
"""

from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from park.core.errors import InvalidError
from park.core.resources import NodeCapabilities
from park.federation import apps

APPS_FILE = Path(apps.__file__)


@dataclass(frozen=True)
class SandboxSpec:
    python: str
    run_as: str | None
    isolate_network: bool
    caps: NodeCapabilities
    cpu_seconds: int

    def check(self) -> None:
        """Fail at daemon start, in one line, rather than on the first lease."""
        if not Path(self.python).exists():
            raise InvalidError(f"sandbox python {self.python} does not exist")
        if self.isolate_network and shutil.which("unshare") is None:
            raise InvalidError(
                "isolateNetwork needs `unshare` (util-linux); install it or set isolateNetwork: false"
            )
        if self.run_as is not None and os.geteuid() == 0:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                raise InvalidError(f"runAs user {self.run_as!r} does not exist") from None


@dataclass(frozen=True)
class Prepared:
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    stdin: bytes


def _drop_to(user: str | None) -> tuple[int, int] | None:
    if user is None or os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def prepare(spec: SandboxSpec, app: str, payload: dict[str, Any], *, root: Path | None = None) -> Prepared:
    if app not in apps.known_apps():
        raise InvalidError(f"this node has no app {app!r}")
    ids = _drop_to(spec.run_as)
    workdir = Path(tempfile.mkdtemp(prefix="park-work-", dir=root))
    if app in apps.ML_APPS:  # torch and the models: the interpreter's own packages, so no -S
        argv = [spec.python, "-I", "-m", "park.federation.ml_apps", app]
    else:  # standard library only: a private copy, run without site-packages
        script = workdir / "apps.py"
        shutil.copyfile(APPS_FILE, script)
        argv = [spec.python, "-I", "-S", str(script), app]
    if ids is not None:
        for path in workdir.iterdir():
            os.chown(path, *ids)
        os.chown(workdir, *ids)
    if spec.isolate_network:
        # An unprivileged child needs its own user namespace to own a network namespace.
        unprivileged = ids is not None or os.geteuid() != 0
        argv = ["unshare", "--net", *(["--map-current-user"] if unprivileged else []), *argv]
    gpus = ",".join(str(i) for i in range(spec.caps.gpus))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "CUDA_VISIBLE_DEVICES": gpus,
        "PARK_GPU_MEMORY_GIB": f"{spec.caps.gpu_memory_gib:g}",
        "OMP_NUM_THREADS": str(max(1, int(spec.caps.cpus))),
    }
    return Prepared(argv=argv, env=env, workdir=workdir, stdin=json.dumps(payload).encode())


def limits(spec: SandboxSpec) -> None:
    """Runs in the child between fork and exec (`preexec_fn`): limits first, then the user."""
    memory = int(spec.caps.memory_gib * 1024**3)
    # The data segment (heap and private anonymous mappings) rather than the address space: torch
    # reserves far more address space than it touches, so RLIMIT_AS would stop honest work.
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (spec.cpu_seconds, spec.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpus = sorted(os.sched_getaffinity(0))[: max(1, int(spec.caps.cpus))]
    os.sched_setaffinity(0, cpus)
    os.nice(10)
    ids = _drop_to(spec.run_as)
    if ids is not None:
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])


def cleanup(prepared: Prepared) -> None:
    shutil.rmtree(prepared.workdir, ignore_errors=True)
