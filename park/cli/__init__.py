"""The `park` command: a thin Typer shell over the REST API and the embedded platform."""
