"""Every sample in manifests/samples is valid Park YAML, and together they cover every kind."""

from __future__ import annotations

from pathlib import Path

from park.core.kinds import KINDS
from park.core.loading import load_documents

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"


def test_samples_parse_and_cover_every_kind() -> None:
    kinds = set()
    for path in sorted(SAMPLES.glob("*.yaml")):
        for obj in load_documents(path.read_text(), source=str(path)):
            kinds.add(obj.kind)
    assert kinds == set(KINDS)
