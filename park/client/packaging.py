"""Deterministic zips of local directories, for `runtimeEnv.working_dir` and `py_modules`.

The same tree always gives the same bytes (entries sorted, timestamps and permissions fixed), so the
same digest: an unchanged directory is uploaded once and its URI, hence the job's spec, stays the same.
What Ray's own upload leaves out is left out here too: `.git`, `.venv`, `venv`, `__pycache__` (and
`*.pyc`), what `runtimeEnv.excludes` names (gitignore patterns, relative to the directory), and what
each `.gitignore` and `.rayignore` names for its own directory and below.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

from park.core.errors import InvalidError, TooLargeError
from park.core.packages import MAX_PACKAGE_BYTES, TOP_DIRECTORY, too_large

DEFAULT_EXCLUDES = (".git/", ".venv/", "venv/", "__pycache__/", "*.pyc")
IGNORE_FILES = (".gitignore", ".rayignore")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold

_Rules = list[tuple[Path, GitIgnoreSpec]]


@dataclass(frozen=True)
class Package:
    data: bytes
    sha256: str
    files: int


def zip_directory(
    directory: Path, *, excludes: Sequence[str] = (), module: bool = False, limit: int = MAX_PACKAGE_BYTES
) -> Package:
    """The directory's files under the zip's one top-level directory; with `module`, under
    `<top>/<directory name>/`, so that the unpacked package imports as a `py_modules` entry."""
    if not directory.is_dir():
        raise InvalidError(f"{directory}: not a directory")
    prefix = f"{TOP_DIRECTORY}/{directory.name}/" if module else f"{TOP_DIRECTORY}/"
    buffer = io.BytesIO()
    files = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path, name in _files(directory, [(directory, _spec([*DEFAULT_EXCLUDES, *excludes]))]):
            archive.writestr(_entry(prefix + name, path), path.read_bytes(), compresslevel=6)
            files += 1
            if buffer.tell() > limit:
                raise TooLargeError(too_large(str(directory), limit))
    data = buffer.getvalue()
    if len(data) > limit:  # the central directory comes last
        raise TooLargeError(too_large(str(directory), limit))
    return Package(data=data, sha256=hashlib.sha256(data).hexdigest(), files=files)


def _files(directory: Path, rules: _Rules, seen: frozenset[Path] = frozenset()) -> Iterator[tuple[Path, str]]:
    """(path, name in the zip) of each file kept, in name order; a symlinked directory is followed once."""
    real = directory.resolve()
    if real in seen:
        return
    rules = rules + [(directory, _spec(lines)) for lines in _ignore_files(directory)]
    root = rules[0][0]
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        name = path.relative_to(root).as_posix()
        is_dir = path.is_dir()
        if _ignored(path, is_dir=is_dir, rules=rules):
            continue
        if is_dir:
            yield from _files(path, rules, seen | {real})
        elif path.is_file():
            yield path, name


def _ignored(path: Path, *, is_dir: bool, rules: _Rules) -> bool:
    suffix = "/" if is_dir else ""
    return any(spec.match_file(path.relative_to(base).as_posix() + suffix) for base, spec in rules)


def _ignore_files(directory: Path) -> Iterator[list[str]]:
    for name in IGNORE_FILES:
        file = directory / name
        if file.is_file():
            yield file.read_text(encoding="utf-8", errors="replace").splitlines()


def _spec(lines: Sequence[str]) -> GitIgnoreSpec:
    return GitIgnoreSpec.from_lines(lines)


def _entry(name: str, path: Path) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix: the mode below is read as permissions
    executable = os.access(path, os.X_OK)
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    return info
