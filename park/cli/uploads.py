"""`park apply`'s half of packages: a job's local `working_dir` and `py_modules` become URIs.

Each local directory (relative to the manifest, as a reader expects) is zipped when the manifest is
read, so a missing or oversized one stops the command before anything is sent; then it is uploaded to
the platform (once: an unchanged directory has the same digest) and the job names the stored zip's
URI, which Ray downloads on whichever node runs the job.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from park.client import ParkClient
from park.client.packaging import Package, zip_directory
from park.core.errors import InvalidError
from park.core.packages import local_entries
from park.core.resources import AnyResource, ParkJob

LocalFiles = dict[str, Package]
"""A job's zipped local paths by runtime env field: `working_dir`, `py_modules[0]`, ..."""


def zip_local_files(obj: AnyResource, base: Path) -> LocalFiles:
    if not isinstance(obj, ParkJob):
        return {}
    excludes = obj.spec.runtime_env.get("excludes") or []
    if not isinstance(excludes, list) or not all(isinstance(e, str) for e in excludes):
        raise InvalidError(f"{obj.key}: spec.runtimeEnv.excludes must be a list of gitignore patterns")
    packages = {}
    for field, path in local_entries(obj.spec.runtime_env):
        directory = (base / path).resolve()
        if field != "working_dir" and directory.suffix == ".whl":
            raise InvalidError(
                f"{obj.key}: spec.runtimeEnv.{field}: a local wheel is not uploaded; "
                "publish it to a package index and name it under runtimeEnv.pip"
            )
        try:
            packages[field] = zip_directory(directory, excludes=excludes, module=field != "working_dir")
        except InvalidError as exc:
            raise type(exc)(f"{obj.key}: spec.runtimeEnv.{field}: {exc}") from exc
    return packages


def upload_local_files(client: ParkClient, obj: AnyResource, files: LocalFiles, out: Console) -> AnyResource:
    """The object with each local path replaced by the URI of its uploaded zip."""
    if not files or not isinstance(obj, ParkJob):
        return obj
    namespace = obj.metadata.namespace or "default"
    uris = {}
    for field, package in files.items():
        with out.status(f"uploading {field} of {obj.key} ({_size(package)})"):
            upload = client.upload(namespace, package)
        action = "uploaded" if upload.sent else "unchanged"
        out.print(
            f"package {package.sha256[:12]} ({field}, {package.files} files, {_size(package)}) {action}"
        )
        uris[field] = upload.uri
    return with_uris(obj, uris)


def with_uris(job: ParkJob, uris: dict[str, str]) -> ParkJob:
    runtime_env = dict(job.spec.runtime_env)
    if "working_dir" in uris:
        runtime_env["working_dir"] = uris["working_dir"]
    modules = runtime_env.get("py_modules")
    if isinstance(modules, list):
        runtime_env["py_modules"] = [uris.get(f"py_modules[{i}]", entry) for i, entry in enumerate(modules)]
    return job.model_copy(update={"spec": job.spec.model_copy(update={"runtime_env": runtime_env})})


def _size(package: Package) -> str:
    size = len(package.data)
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"
