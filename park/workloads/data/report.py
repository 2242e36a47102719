"""Row counts per stage and modality, in the shape the platform copies into the ParkJob's status.

    stages:          {stage: {"text": n, "image": n, "audio": n, "total": n}}, stages in pipeline order
    invalidReasons:  {"text": {reason: n}, ..., "total": {reason: n}}

| stage | counts |
| --- | --- |
| read | files listed and read (by extension: .jsonl, .png/.jpg/.jpeg, .wav) |
| records | records found: JSONL lines, image files, audio files |
| decoded | records that decoded and passed validation |
| invalid | records rejected (reasons in `invalidReasons`) |
| duplicates | near-duplicates removed |
| deduplicated | records kept |
| chunks | model inputs after normalizing and chunking the kept records |
| embedded | chunks the embedding actors turned into vectors (live while they run) |
| written | rows in the Parquet output, counted from its footers after the write |
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

STAGES = (
    "read",
    "records",
    "decoded",
    "invalid",
    "duplicates",
    "deduplicated",
    "chunks",
    "embedded",
    "written",
)


@dataclass
class StageCounts:
    modalities: tuple[str, ...]
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    invalid: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))

    def set(self, stage: str, modality: str, value: int) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        self.counts[stage][modality] = int(value)

    def set_invalid(self, modality: str, reasons: Mapping[str, int]) -> None:
        self.invalid[modality] = {r: int(n) for r, n in sorted(reasons.items())}
        self.set("invalid", modality, sum(reasons.values()))

    def get(self, stage: str, modality: str) -> int:
        return self.counts.get(stage, {}).get(modality, 0)

    def stages(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for stage in STAGES:
            if stage in self.counts:
                row = {m: self.counts[stage].get(m, 0) for m in self.modalities}
                out[stage] = row | {"total": sum(row.values())}
        return out

    def invalid_reasons(self) -> dict[str, dict[str, int]]:
        total: defaultdict[str, int] = defaultdict(int)
        for reasons in self.invalid.values():
            for reason, n in reasons.items():
                total[reason] += n
        return {m: dict(self.invalid.get(m, {})) for m in self.modalities} | {
            "total": dict(sorted(total.items()))
        }

    def line(self, modality: str) -> str:
        """One progress line: `image: read 63, decoded 60, invalid 3, duplicates 6, ...`."""
        parts = [f"{s} {self.counts[s][modality]}" for s in STAGES if modality in self.counts.get(s, {})]
        return f"{modality}: " + ", ".join(parts)
