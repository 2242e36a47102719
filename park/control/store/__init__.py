"""The store: versioned resources with optimistic concurrency, watches and per-object events."""

from park.control.store.interface import ListResult, ObjectEvent, Store, WatchEvent
from park.control.store.selectors import LabelSelector, parse_selector

__all__ = ["LabelSelector", "ListResult", "ObjectEvent", "Store", "WatchEvent", "parse_selector"]
