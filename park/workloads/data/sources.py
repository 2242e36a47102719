"""Which files the pipeline reads (listed once on the driver, split by modality on the extension),
and whether the output directory may be replaced.

Listing up front (instead of letting each read discover files) gives the "read" count before any data
moves, lets a modality without files be skipped, and lets the second pass read exactly the files the
first one kept. Local paths and pyarrow URIs (s3://, gs://, hdfs://...) are listed alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pyarrow.fs as pafs

from park.core.errors import InvalidError

EXTENSIONS = {".jsonl": "text", ".png": "image", ".jpg": "image", ".jpeg": "image", ".wav": "audio"}


@dataclass(frozen=True)
class Sources:
    filesystem: pafs.FileSystem
    files: dict[str, list[str]]  # modality -> sorted filesystem paths
    skipped: list[str] = field(default_factory=list)  # files of no known type
    scheme: str = ""  # "s3://" for s3 URIs: what `display` puts back in front of a filesystem path

    def display(self, path: str) -> str:
        return f"{self.scheme}{path}"


def _hidden(path: str, root: str) -> bool:
    relative = (
        PurePosixPath(path).relative_to(root) if path != root else PurePosixPath(PurePosixPath(path).name)
    )
    return any(part.startswith((".", "_")) for part in relative.parts)


def _filesystem(location: str) -> tuple[pafs.FileSystem, str, str]:
    if "://" in location:
        filesystem, root = pafs.FileSystem.from_uri(location)
        return filesystem, root, location.split("://", 1)[0] + "://"
    return pafs.LocalFileSystem(), str(Path(location).resolve()), ""


def check_output(location: str) -> None:
    """The output directory is replaced on every run (so retries are clean): refuse one that holds
    anything but Parquet files, rather than delete someone's files."""
    try:
        filesystem, root, _ = _filesystem(location)
        info = filesystem.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            return
        if info.type != pafs.FileType.Directory:
            raise InvalidError(f"output {location} is a file; give a directory")
        found = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    except (OSError, ValueError) as exc:
        raise InvalidError(f"cannot list output {location}: {exc}") from exc
    foreign = [i.path for i in found if i.type == pafs.FileType.File and not i.path.endswith(".parquet")]
    if foreign:
        raise InvalidError(
            f"output {location} holds other files than Parquet (e.g. {foreign[0]}); "
            "it is replaced on every run, so give an empty or new directory"
        )


def list_sources(location: str) -> Sources:
    """Raises InvalidError when `location` does not exist or cannot be listed."""
    try:
        filesystem, root, scheme = _filesystem(location)
        info = filesystem.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise InvalidError(f"input {location} does not exist")
        infos = (
            [info]
            if info.type == pafs.FileType.File
            else filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
        )
    except (OSError, ValueError) as exc:
        raise InvalidError(f"cannot list input {location}: {exc}") from exc
    files: dict[str, list[str]] = {"text": [], "image": [], "audio": []}
    skipped: list[str] = []
    base = root if info.type == pafs.FileType.Directory else str(PurePosixPath(root).parent)
    for item in sorted(infos, key=lambda i: i.path):
        if item.type != pafs.FileType.File or _hidden(item.path, base):
            continue
        modality = EXTENSIONS.get(PurePosixPath(item.path).suffix.lower())
        (files[modality] if modality else skipped).append(item.path)
    return Sources(filesystem=filesystem, files=files, skipped=skipped, scheme=scheme)
