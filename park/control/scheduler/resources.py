"""Resource vectors over named resources: cpu, memory, gpu, typed gpus (`gpu/nvidia-a100`) and custom names.

Amounts are stored as integers in base units (memory in bytes, everything else in milli-units), so quota
arithmetic never drifts the way floats do after millions of admit/finish updates, and `fits` is exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Final

from park.core.quantities import parse_quantity

CPU: Final = "cpu"
MEMORY: Final = "memory"
GPU: Final = "gpu"
GPU_FLAVOR_PREFIX: Final = "gpu/"
FLAVOR_SEPARATOR: Final = "@"
"""`gpu@h100-us-east`: a resource counted on one resource flavor of a queue (see `flavors.py`)."""

Amount = float | int | str
"""A user-facing amount: 2, 0.5, "500m", "16Gi"."""

_MILLI: Final = 1000
_BINARY_SUFFIXES: Final = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def base_name(name: str) -> str:
    """The resource without its flavor: `memory@h100` is memory."""
    return name.partition(FLAVOR_SEPARATOR)[0]


def scale_of(name: str) -> int:
    """Base units per user unit: bytes are already integral; cores, devices and custom counts use milli."""
    return 1 if base_name(name) == MEMORY else _MILLI


def format_amount(name: str, raw: int) -> str:
    """One amount as a person reads it: `2 gpu`, `500m cpu`, `8Gi memory`."""
    if base_name(name) == MEMORY:
        for suffix, size in _BINARY_SUFFIXES:
            if raw >= size and raw % size == 0:
                return f"{raw // size}{suffix} {name}"
        return f"{raw} {name}"
    whole, milli = divmod(raw, _MILLI)
    if milli == 0:
        return f"{whole} {name}"
    if whole == 0:
        return f"{raw}m {name}"
    return f"{raw / _MILLI:g} {name}"


class Resources:
    """An immutable vector of amounts; a missing name means zero.

    Zero entries are kept (a queue lists a gpu flavor with 0 nominal quota to say it may borrow that
    flavor), but they do not affect equality or hashing.
    """

    __slots__ = ("_amounts", "_hash", "_nonzero")

    def __init__(self, raw: Mapping[str, int] | None = None) -> None:
        amounts = dict(raw or {})
        for name, value in amounts.items():
            if value < 0:
                raise ValueError(f"resource {name!r} is negative ({value}); amounts are >= 0")
        self._amounts: dict[str, int] = amounts
        self._hash: int | None = None
        self._nonzero: dict[str, int] | None = None

    @classmethod
    def of(cls, amounts: Mapping[str, Amount] | None = None, **named: Amount) -> Resources:
        """Build from user units: `Resources.of(cpu=4, memory="16Gi", gpu=2)` or a mapping for typed names."""
        merged: dict[str, Amount] = {**(amounts or {}), **named}
        raw = {name: _to_raw(name, value) for name, value in merged.items()}
        return cls(raw)

    # ------------------------------------------------------------------ reading

    def raw(self, name: str) -> int:
        return self._amounts.get(name, 0)

    def get(self, name: str) -> float:
        """The amount in user units (cores, bytes, devices)."""
        return self.raw(name) / scale_of(name)

    def names(self) -> tuple[str, ...]:
        """Declared names in declaration order (the order in which a queue prefers its gpu flavors)."""
        return tuple(self._amounts)

    def items(self) -> Iterator[tuple[str, int]]:
        return iter(self._amounts.items())

    def nonzero(self) -> dict[str, int]:
        """The non-zero amounts (a shared dict: callers must not change it)."""
        if self._nonzero is None:
            self._nonzero = {name: value for name, value in self._amounts.items() if value}
        return self._nonzero

    def is_zero(self) -> bool:
        return not any(self._amounts.values())

    # ------------------------------------------------------------------ arithmetic

    def __add__(self, other: Resources) -> Resources:
        out = dict(self._amounts)
        for name, value in other.items():
            out[name] = out.get(name, 0) + value
        return Resources(out)

    def __sub__(self, other: Resources) -> Resources:
        """Difference clamped at zero: what is left of `self` once `other` is taken out."""
        out = dict(self._amounts)
        for name, value in other.items():
            out[name] = max(0, out.get(name, 0) - value)
        return Resources(out)

    def times(self, count: int) -> Resources:
        """A gang: `count` pods of this per-pod vector."""
        if count < 0:
            raise ValueError("count must be >= 0")
        return Resources({name: value * count for name, value in self._amounts.items()})

    def fits(self, limit: Resources) -> bool:
        """Whether every amount here is within `limit` (names `limit` lacks have room zero)."""
        return all(value <= limit.raw(name) for name, value in self._amounts.items())

    def dominant_share(self, total: Resources) -> float:
        """max over resources of self/total; a demand for something `total` lacks is an infinite share."""
        share = 0.0
        for name, value in self._amounts.items():
            if not value:
                continue
            cap = total.raw(name)
            share = max(share, value / cap if cap else math.inf)
        return share

    # ------------------------------------------------------------------ identity and text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resources):
            return NotImplemented
        return self is other or self.nonzero() == other.nonzero()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self.nonzero().items()))
        return self._hash

    def __repr__(self) -> str:
        return f"Resources.of({ {n: self.get(n) for n in self._amounts} })"

    def __str__(self) -> str:
        return describe(self.nonzero()) or "nothing"


def describe(raw: Mapping[str, int], names: Iterable[str] | None = None) -> str:
    """`2 gpu, 8 cpu` for the given names (default: all), in a stable order with gpus first."""
    chosen = list(raw) if names is None else [n for n in names if n in raw]
    return ", ".join(format_amount(name, raw[name]) for name in sorted(chosen, key=_display_rank))


def _display_rank(full: str) -> tuple[int, str]:
    name = base_name(full)
    if name == GPU or name.startswith(GPU_FLAVOR_PREFIX):
        return (0, full)
    return (1 if name in (CPU, MEMORY) else 2, full)


def _to_raw(name: str, value: Amount) -> int:
    number = parse_quantity(value)
    return math.ceil(number * scale_of(name) - 1e-9)
