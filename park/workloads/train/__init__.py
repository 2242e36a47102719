"""The `train` workload: a character-level transformer LM trained data-parallel with Ray Train.

Run it with `python -m park.workloads.train` (parameters: `PARK_WORKLOAD_PARAMS` or `--params JSON`,
see `TrainParams`). It checkpoints on a step and/or time interval, saves and stops on preemption, and
resumes to the same result as an uninterrupted run.
"""

from park.workloads.train.params import TrainParams

__all__ = ["TrainParams"]
