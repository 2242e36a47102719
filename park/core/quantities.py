"""Kubernetes-style resource quantities ("500m", "4Gi", 2): validated as given, parsed on use."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from park.core.errors import InvalidError

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
}
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")


def parse_quantity(value: str | float) -> float:
    """Return the quantity as a plain number (cores, bytes, devices)."""
    if isinstance(value, bool):
        raise InvalidError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        if value < 0:
            raise InvalidError(f"{value!r} is negative; quantities are >= 0")
        return float(value)
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise InvalidError(f"{value!r} is not a quantity (examples: 2, 500m, 4Gi)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise InvalidError(f"{value!r} is not a quantity") from exc
    return float(number * _SUFFIXES[match["suffix"] or ""])


def normalize_quantity(value: object) -> str:
    """Pydantic before-validator: accept numbers or strings, keep the user's spelling as a string."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a quantity (examples: 2, 500m, 4Gi)")
    try:
        parse_quantity(value)
    except InvalidError as exc:
        raise ValueError(str(exc)) from exc
    return value if isinstance(value, str) else format(value, "g")
