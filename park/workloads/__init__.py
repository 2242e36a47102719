"""Ray programs users run by name from a ParkJob (`spec.workload`) or as `python -m park.workloads.<name>`.

Workloads import Ray and PyTorch, never the control plane; they talk to the platform only through the
contract in `park.workloads.contract` (environment in, report file and checkpoints out).
"""
