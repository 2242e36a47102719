"""Models the workloads train, evaluate and serve, with their on-disk checkpoint formats."""
