"""Kubernetes-style resource quantities ("500m", "4Gi", 2): validated as given, parsed on use.

The grammar is Kubernetes' own (`resource.Quantity`) without a sign, since Park's amounts are never
negative. The same pattern goes into the CRDs (`QUANTITY_PATTERN`), so `kubectl apply` and `park apply`
accept exactly the same spellings.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from park.core.errors import InvalidError

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
# Kubernetes' quantity regex less its '-' (and with whole-number exponents, as its parser requires).
QUANTITY_PATTERN = r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
_QUANTITY = re.compile(QUANTITY_PATTERN)
_EXAMPLES = "examples: 2, 500m, 4Gi"


def parse_quantity(value: str | float) -> float:
    """Return the quantity as a plain number (cores, bytes, devices)."""
    if isinstance(value, bool):
        raise InvalidError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        if value < 0 or math.isnan(value) or math.isinf(value):
            raise InvalidError(f"{value!r} is not a quantity: quantities are >= 0 ({_EXAMPLES})")
        return float(value)
    match = _QUANTITY.fullmatch(value)  # fullmatch: `$` alone would let a trailing newline through
    if match is None:
        hint = "quantities are >= 0" if value.startswith("-") else _EXAMPLES
        raise InvalidError(f"{_shown(value)} is not a quantity ({hint})")
    suffix = match[3] or ""
    try:
        scale = _SUFFIXES[suffix] if suffix in _SUFFIXES else Decimal(10) ** int(suffix[1:])  # 1e3
        result = float(Decimal(match[1]) * scale)
    except (InvalidOperation, ArithmeticError, ValueError) as exc:
        raise InvalidError(f"{_shown(value)} is too large a quantity") from exc
    if math.isinf(result):
        raise InvalidError(f"{_shown(value)} is too large a quantity")
    return result


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")


def normalize_quantity(value: object) -> str:
    """Pydantic before-validator: accept numbers or strings, keep the user's spelling as a string."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a quantity ({_EXAMPLES})")
    try:
        parse_quantity(value)
    except InvalidError as exc:
        raise ValueError(str(exc)) from exc
    if isinstance(value, str):
        return value
    return format(value + 0, "g")  # + 0: -0.0 becomes 0.0, which Kubernetes' pattern accepts
