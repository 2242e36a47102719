"""The generator: deterministic, exact about what it planted, and its near-duplicates really are near."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from park.workloads import datagen


def _digest(root: Path) -> str:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    datagen.generate(tmp_path / "a", items=24, corrupt=2, seed=5)
    datagen.generate(tmp_path / "b", items=24, corrupt=2, seed=5)
    datagen.generate(tmp_path / "c", items=24, corrupt=2, seed=6)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_manifest_accounts_for_every_file_and_record(tmp_path: Path) -> None:
    manifest = datagen.generate(tmp_path, items=100, corrupt=4, seed=1, dup_fraction=0.2)
    records = manifest["records"]
    kinds = Counter((r["modality"], r["kind"]) for r in records)
    assert kinds == {
        ("text", "original"): 40,
        ("text", "duplicate"): 10,
        ("image", "original"): 20,
        ("image", "duplicate"): 5,
        ("audio", "original"): 20,
        ("audio", "duplicate"): 5,
        ("text", "corrupt"): 4,
        ("image", "corrupt"): 4,
        ("audio", "corrupt"): 4,
    }
    on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert on_disk == {r["path"] for r in records} | {datagen.MANIFEST}
    assert Counter(r["reason"] for r in records if r["kind"] == "corrupt") == {
        "bad_json": 1,
        "bad_encoding": 1,
        "missing_text": 1,
        "empty_file": 3,  # the text one, and one each of images and audio
        "truncated": 4,  # reasons cycle: files 0 and 3 of images and of audio
        "undecodable": 2,
    }
    first_line = (tmp_path / "text" / "part-00000.jsonl").read_text().splitlines()[0]
    assert isinstance(json.loads(first_line)["text"], str)


def test_every_duplicate_points_at_an_original(tmp_path: Path) -> None:
    manifest = datagen.generate(tmp_path, items=60, corrupt=0, seed=2)
    originals = {(r["modality"], r["group"]) for r in manifest["records"] if r["kind"] == "original"}
    duplicates = [r for r in manifest["records"] if r["kind"] == "duplicate"]
    assert duplicates
    assert all((r["modality"], r["group"]) in originals for r in duplicates)


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert datagen.main(["--out", str(tmp_path), "--items", "8", "--corrupt", "1", "--seed", "3"]) == 0
    assert "text: 4 originals" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        datagen.main(["--out", str(tmp_path), "--items", "2"])
