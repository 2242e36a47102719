"""A typed Python client of the Park REST API, used by the CLI and the console."""

from park.client.client import ApplyResult, Listing, ParkClient, Upload, connect

__all__ = ["ApplyResult", "Listing", "ParkClient", "Upload", "connect"]
