"""A real, small English corpus that ships with Python itself: the docstrings of the standard library.

Deterministic for a given Python version (files in sorted order, docstrings in AST order, a fixed
character filter), and nothing is downloaded. Training and evaluation split one corpus the same way:
the first `1 - eval_fraction` of the characters train, the rest is held out.

    python -m park.workloads.corpus --out corpus.txt [--max-chars 1000000]
"""

from __future__ import annotations

import argparse
import ast
import string
import sysconfig
from collections.abc import Iterator
from pathlib import Path

DEFAULT_MAX_CHARS = 1_000_000
_SKIP_PARTS = frozenset({"test", "tests", "idlelib", "lib2to3", "site-packages", "__pycache__", "turtledemo"})
_ALLOWED = frozenset(string.printable) - frozenset("\t\r\x0b\x0c")
_DOC_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _stdlib_sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if not _SKIP_PARTS.intersection(path.relative_to(root).parts):
            yield path


def _docstrings(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, _DOC_NODES) and (doc := ast.get_docstring(node)):
            yield doc


def _clean(doc: str) -> str:
    return "".join(char for char in doc.replace("\t", "    ") if char in _ALLOWED).strip()


def stdlib_docstrings(*, max_chars: int = DEFAULT_MAX_CHARS, min_doc_chars: int = 80) -> str:
    """Docstrings of at least `min_doc_chars`, paragraph-separated, cut at `max_chars` characters."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    total = 0
    for path in _stdlib_sources(root):
        for doc in _docstrings(path):
            text = _clean(doc)
            if len(text) < min_doc_chars:
                continue
            parts.append(text)
            total += len(text) + 2
            if total >= max_chars:
                return "\n\n".join(parts)[:max_chars]
    return "\n\n".join(parts)


def split_text(text: str, eval_fraction: float) -> tuple[str, str]:
    """(train, held-out): the held-out part is the corpus's tail, so the two never overlap."""
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1): {eval_fraction}")
    cut = int(len(text) * (1.0 - eval_fraction))
    return text[:cut], text[cut:]


def read_corpus(path: str | None, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The text of `path`, or the standard-library corpus when no path is given."""
    if path is None:
        return stdlib_docstrings(max_chars=max_chars)
    try:
        return Path(path).read_text(encoding="utf-8")[:max_chars]
    except OSError as exc:
        raise ValueError(f"cannot read corpus {path}: {exc.strerror or exc}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m park.workloads.corpus", description=__doc__)
    parser.add_argument("--out", required=True, type=Path, help="file to write the corpus to")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS)
    args = parser.parse_args(argv)
    text = stdlib_docstrings(max_chars=args.max_chars)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {len(text)} characters ({len(set(text))} distinct) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
