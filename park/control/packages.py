"""Where uploaded packages live: `<root>/<namespace>/<sha256>.zip` in the platform's artifact store.

The root is a directory under the state directory on `park up` and sits beside the jobs' files on
Kubernetes (`s3://BUCKET/packages`, or a path every Ray pod mounts). A package is stored once per
namespace and never rewritten: its name is its content's digest, so Ray's per-URI cache of unpacked
packages on each node is always right.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from park.core.errors import InvalidError, NotFoundError, SubstrateUnavailableError, TooLargeError
from park.core.meta import check_dns_label
from park.core.packages import MAX_PACKAGE_BYTES, check_sha256, too_large
from park.workloads import artifacts

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class StoredPackage:
    namespace: str
    sha256: str
    uri: str
    """What a runtime env names: Ray on every node downloads the zip from here."""
    size: int


class PackageStore:
    def __init__(self, root: Path | str, *, limit: int = MAX_PACKAGE_BYTES) -> None:
        self.root = str(root)
        self.limit = limit

    def get(self, namespace: str, sha256: str) -> StoredPackage:
        location = self._location(namespace, sha256)
        size = _io("look up", location, lambda: artifacts.size(location))
        if size is None:
            raise NotFoundError(f"no package {sha256} in namespace {namespace}")
        return StoredPackage(namespace, sha256, artifacts.as_uri(location), size)

    def put(self, namespace: str, sha256: str, data: bytes) -> tuple[StoredPackage, bool]:
        """Store `data` (checked: its digest, a zip, safe names, the limit); True when it was new."""
        location = self._location(namespace, sha256)
        _check(sha256, data, self.limit)
        stored = StoredPackage(namespace, sha256, artifacts.as_uri(location), len(data))
        if _io("look up", location, lambda: artifacts.size(location)) == len(data):
            return stored, False  # the same name is the same content: nothing to write
        _io("write", location, lambda: artifacts.write_bytes(location, data))
        logger.info("stored package %s/%s (%d bytes)", namespace, sha256, len(data))
        return stored, True

    def _location(self, namespace: str, sha256: str) -> str:
        try:
            check_dns_label(namespace)
        except ValueError as exc:
            raise InvalidError(f"namespace: {exc}") from exc
        return artifacts.join(self.root, namespace, f"{check_sha256(sha256)}.zip")


def _io(verb: str, location: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except artifacts.ArtifactError as exc:
        raise SubstrateUnavailableError(f"the artifact store could not {verb} {location}: {exc}") from exc


def _check(sha256: str, data: bytes, limit: int) -> None:
    if len(data) > limit:
        raise TooLargeError(too_large(f"the package ({len(data)} bytes)", limit))
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise InvalidError(f"the body's sha256 is {actual}, not {sha256} as the URL says: upload it again")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InvalidError(f"the package is not a zip file ({exc})") from exc
    unsafe = [name for name in names if _unsafe(name)]
    if unsafe:
        raise InvalidError(f"the package has a file outside its own directory: {unsafe[0]!r}")


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or ":" in name
