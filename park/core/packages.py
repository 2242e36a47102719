"""Packages: a job's local files (`runtimeEnv.working_dir`, `py_modules`) as content-addressed zips.

`park apply` zips a local directory, the API stores the zip in the platform's artifact store under
`<packages root>/<namespace>/<sha256>.zip`, and the job's runtime env names the stored zip's URI, which
every Ray node downloads by itself (`file://` under `park up`, `s3://` on Kubernetes). These are the
rules both sides share.

Ray unpacks a zip it downloads from a URI by stripping its one top-level directory (a zip without one
is unpacked as it is), so every package has exactly one: `TOP_DIRECTORY`. A working directory's files
go directly under it; a `py_modules` directory goes under it by its own name, so it can be imported.
"""

from __future__ import annotations

import re
from typing import Any

from park.core.errors import InvalidError

MAX_PACKAGE_BYTES = 100 * 1024 * 1024
"""Code and small files, not data: Ray's own limit for uploaded working directories is 500 MiB, but
a package passes through the API server's memory; datasets and models belong in the artifact store."""

TOP_DIRECTORY = "package"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise InvalidError(f"{value!r} is not a sha256 digest (64 lower-case hex digits)")
    return value


def too_large(what: str, limit: int) -> str:
    """The one-line message for a package over the limit."""
    size = f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit} bytes"
    return (
        f"{what} is over the {size} limit for a package (zipped): leave data and models out "
        "(runtimeEnv.excludes, .rayignore) and read them from the artifact store"
    )


def is_local_path(entry: object) -> bool:
    """A working_dir or py_modules entry that names a path on the client's machine, not a URI."""
    return isinstance(entry, str) and "://" not in entry


def local_entries(runtime_env: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, path) for each entry that names a local path: `working_dir`, `py_modules[i]`."""
    entries = [("working_dir", runtime_env.get("working_dir"))]
    modules = runtime_env.get("py_modules")
    if isinstance(modules, list):
        entries += [(f"py_modules[{index}]", entry) for index, entry in enumerate(modules)]
    return [(field, entry) for field, entry in entries if isinstance(entry, str) and is_local_path(entry)]
