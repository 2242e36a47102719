"""The embedded platform: everything `park up` runs in one process on one machine."""

from park.embedded.platform import Platform

__all__ = ["Platform"]
