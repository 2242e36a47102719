"""One module per resource area; each exposes `router`."""
