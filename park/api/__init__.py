"""The REST API for platform teams: resources, logs, watch, health and metrics."""

from park.api.app import create_app
from park.api.deps import ApiContext

__all__ = ["ApiContext", "create_app"]
