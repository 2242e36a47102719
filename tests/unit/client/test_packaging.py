"""Zips of local directories: the same tree gives the same digest; what Ray would skip is skipped."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest

from park.client.packaging import zip_directory
from park.core.errors import InvalidError, TooLargeError


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


def test_the_same_tree_gives_the_same_bytes_whatever_the_times_and_creation_order(tmp_path: Path) -> None:
    first = tree(tmp_path / "a", {"main.py": "print(1)", "lib/util.py": "X = 1", "z.txt": "z"})
    second = tree(tmp_path / "b", {"z.txt": "z", "lib/util.py": "X = 1", "main.py": "print(1)"})
    long_ago = time.time() - 86_400 * 400
    os.utime(second / "main.py", (long_ago, long_ago))

    one, other = zip_directory(first), zip_directory(second)

    assert one.sha256 == other.sha256 and one.data == other.data
    assert one.files == 3
    assert names(one.data) == ["package/lib/util.py", "package/main.py", "package/z.txt"]


def test_a_changed_file_changes_the_digest(tmp_path: Path) -> None:
    root = tree(tmp_path, {"main.py": "print(1)"})
    before = zip_directory(root).sha256
    (root / "main.py").write_text("print(2)")
    assert zip_directory(root).sha256 != before


def test_executable_files_stay_executable_and_others_do_not(tmp_path: Path) -> None:
    root = tree(tmp_path, {"run.sh": "#!/bin/sh\necho hi\n", "data.txt": "x"})
    (root / "run.sh").chmod(0o755)
    with zipfile.ZipFile(io.BytesIO(zip_directory(root).data)) as archive:
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
    assert modes == {"package/data.txt": 0o644, "package/run.sh": 0o755}


def test_git_caches_and_virtualenvs_are_left_out(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "main.py": "",
            ".git/HEAD": "ref",
            "__pycache__/main.cpython-311.pyc": "",
            "pkg/__pycache__/x.pyc": "",
            "pkg/stale.pyc": "",
            "pkg/mod.py": "",
            ".venv/bin/python": "",
            "venv/lib/x.py": "",
        },
    )
    assert names(zip_directory(root).data) == ["package/main.py", "package/pkg/mod.py"]


def test_excludes_and_ignore_files_are_honoured_where_they_stand(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "main.py": "",
            "data/big.bin": "",
            ".gitignore": "*.log\n",
            "run.log": "",
            "sub/.rayignore": "local.txt\n",
            "sub/local.txt": "",
            "sub/kept.txt": "",
            "local.txt": "",  # the .rayignore in sub/ does not reach up here
            "notes/draft.md": "",
        },
    )
    kept = names(zip_directory(root, excludes=["data/", "notes/*.md"]).data)
    assert kept == [
        "package/.gitignore",
        "package/local.txt",
        "package/main.py",
        "package/sub/.rayignore",
        "package/sub/kept.txt",
    ]


def test_a_module_directory_keeps_its_name_so_it_can_be_imported(tmp_path: Path) -> None:
    module = tree(tmp_path / "mymod", {"__init__.py": "VALUE = 1"})
    assert names(zip_directory(module, module=True).data) == ["package/mymod/__init__.py"]


def test_a_symlink_loop_is_followed_once(tmp_path: Path) -> None:
    root = tree(tmp_path / "root", {"a.txt": "a"})
    (root / "again").symlink_to(root, target_is_directory=True)
    assert names(zip_directory(root).data) == ["package/a.txt"]


def test_a_directory_over_the_limit_is_refused_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "noise.bin").write_bytes(os.urandom(8192))  # random bytes do not compress
    assert zip_directory(root, limit=16384).files == 1
    with pytest.raises(TooLargeError, match=r"big is over the 4096 bytes limit") as caught:
        zip_directory(root, limit=4096)
    assert "\n" not in str(caught.value)


def test_a_missing_directory_is_an_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidError, match="not a directory"):
        zip_directory(tmp_path / "missing")
