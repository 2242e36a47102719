"""Artifacts addressed by URI: a plain path or `file://` on the embedded default, `s3://` on Kubernetes.

Reports, preemption markers, checkpoints, uploaded working directories and datasets all go through
here, so neither a workload nor the control plane assumes a shared local filesystem. pyarrow's
filesystems do the I/O (the same ones Ray Train uses for `storage_path`).

S3 is configured the way AWS tools are: `AWS_ENDPOINT_URL` (an S3-compatible server such as MinIO),
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` in the environment; on Kubernetes they
come from a Secret.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs

__all__ = [
    "ArtifactError",
    "as_uri",
    "beside",
    "download_dir",
    "exists",
    "is_uri",
    "join",
    "read_bytes",
    "read_json",
    "remove",
    "size",
    "write_bytes",
    "write_json",
]


class ArtifactError(Exception):
    """An artifact could not be read or written (unreachable store, denied, malformed URI)."""


def is_uri(location: str) -> bool:
    return "://" in location


def join(base: str, *names: str) -> str:
    if is_uri(base):
        return "/".join([base.rstrip("/"), *names])
    return str(Path(base, *names))


def beside(location: str, name: str) -> str:
    """A sibling of `location` (`s3://b/jobs` -> `s3://b/NAME`); inside it when it is a bucket's root."""
    if not is_uri(location):
        return str(Path(location).absolute().parent / name)
    parts = urlsplit(location.rstrip("/"))
    parent = parts.path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{parent}/{name}"


def as_uri(location: str) -> str:
    """`location` as a URI any process on this machine (or mounting this path) can open: a plain
    path becomes `file://`, which Ray's runtime envs need (they take a bare path for a local one)."""
    return location if is_uri(location) else Path(location).absolute().as_uri()


def filesystem(location: str, environ: Mapping[str, str] | None = None) -> tuple[pafs.FileSystem, str]:
    """The filesystem that holds `location` and the path inside it."""
    env = os.environ if environ is None else environ
    if not is_uri(location):
        return pafs.LocalFileSystem(), str(Path(location).absolute())
    parts = urlsplit(location)
    if parts.scheme == "file":
        return pafs.LocalFileSystem(), parts.path
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ArtifactError(f"{location}: an s3:// URI names a bucket (s3://BUCKET/KEY)")
        return _s3(env), f"{parts.netloc}{parts.path}".rstrip("/")
    raise ArtifactError(f"{location}: artifacts live at a path, file:// or s3:// URI, not {parts.scheme}://")


def _s3(env: Mapping[str, str]) -> pafs.S3FileSystem:
    endpoint = env.get("AWS_ENDPOINT_URL", "")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    options: dict[str, Any] = {"region": region}
    if endpoint:
        parts = urlsplit(endpoint)
        options.update(endpoint_override=parts.netloc or parts.path, scheme=parts.scheme or "https")
    if env.get("AWS_ACCESS_KEY_ID"):
        options.update(access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env.get("AWS_SECRET_ACCESS_KEY", ""))
    return pafs.S3FileSystem(**options)


def read_bytes(location: str) -> bytes | None:
    """The artifact's bytes, or None when there is none."""
    fs, path = filesystem(location)
    try:
        with fs.open_input_stream(path) as stream:
            return bytes(stream.read())
    except FileNotFoundError:
        return None
    except OSError as exc:
        if _missing(exc):
            return None
        raise ArtifactError(f"cannot read {location}: {exc}") from exc


def write_bytes(location: str, data: bytes) -> None:
    """Write whole: a local file appears at once (rename); an S3 object is atomic by nature."""
    fs, path = filesystem(location)
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            fs.create_dir(str(Path(path).parent), recursive=True)
            tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
            with fs.open_output_stream(tmp) as stream:
                stream.write(data)
            fs.move(tmp, path)
            return
        with fs.open_output_stream(path) as stream:
            stream.write(data)
    except OSError as exc:
        raise ArtifactError(f"cannot write {location}: {exc}") from exc


def read_json(location: str) -> dict[str, Any] | None:
    """A JSON object, or None when there is none or it is not a JSON object."""
    data = read_bytes(location)
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def write_json(location: str, value: dict[str, Any]) -> None:
    write_bytes(location, json.dumps(value, indent=2, sort_keys=True).encode())


def exists(location: str) -> bool:
    fs, path = filesystem(location)
    try:
        return bool(fs.get_file_info(path).type != pafs.FileType.NotFound)
    except OSError as exc:
        raise ArtifactError(f"cannot look up {location}: {exc}") from exc


def size(location: str) -> int | None:
    """The file's size in bytes, or None when there is none."""
    fs, path = filesystem(location)
    try:
        info = fs.get_file_info(path)
    except OSError as exc:
        raise ArtifactError(f"cannot look up {location}: {exc}") from exc
    return int(info.size) if info.type == pafs.FileType.File and info.size is not None else None


def remove(location: str) -> None:
    """Delete one file (nothing when there is none)."""
    fs, path = filesystem(location)
    try:
        if fs.get_file_info(path).type == pafs.FileType.File:
            fs.delete_file(path)
    except OSError as exc:
        raise ArtifactError(f"cannot delete {location}: {exc}") from exc


def download_dir(location: str, destination: Path) -> None:
    """Copy every file under the directory at `location` into `destination` (created if missing)."""
    fs, path = filesystem(location)
    try:
        if fs.get_file_info(path).type != pafs.FileType.Directory:
            raise ArtifactError(f"{location} is not a directory")
        destination.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(
            path,
            str(destination.absolute()),
            source_filesystem=fs,
            destination_filesystem=pafs.LocalFileSystem(),
        )
    except OSError as exc:
        raise ArtifactError(f"cannot download {location}: {exc}") from exc


def _missing(exc: OSError) -> bool:
    text = str(exc)
    return "NoSuchKey" in text or "Path does not exist" in text or "HTTP status 404" in text
