"""The standard-library corpus: real English text, the same every time, nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from park.workloads.corpus import main, read_corpus, split_text, stdlib_docstrings


def test_the_corpus_is_deterministic_printable_english() -> None:
    text = stdlib_docstrings(max_chars=20_000)
    assert text == stdlib_docstrings(max_chars=20_000)
    assert len(text) == 20_000
    assert set(text) <= set("\n" + "".join(chr(c) for c in range(32, 127)))
    assert " the " in text


def test_split_holds_out_the_tail() -> None:
    train, held = split_text("abcdefghij", 0.2)
    assert (train, held) == ("abcdefgh", "ij")
    with pytest.raises(ValueError, match="eval_fraction"):
        split_text("abc", 1.0)


def test_the_entry_point_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "corpus.txt"
    assert main(["--out", str(out), "--max-chars", "5000"]) == 0
    assert out.read_text() == stdlib_docstrings(max_chars=5000) == read_corpus(str(out))
    with pytest.raises(ValueError, match="cannot read corpus"):
        read_corpus(str(tmp_path / "missing.txt"))
