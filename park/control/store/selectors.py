"""Kubernetes label selectors: `app=web,tier!=db,env in (a,b),!legacy,release`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from park.core.errors import InvalidError

Operator = Literal["=", "!=", "in", "notin", "exists", "!exists"]


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!exists":
                return not present


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        return all(req.matches(labels) for req in self.requirements)


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _parse_requirement(part: str) -> Requirement:
    for word, operator in ((" notin ", "notin"), (" in ", "in")):
        if word in part:
            key, _, rest = part.partition(word)
            rest = rest.strip()
            if not (rest.startswith("(") and rest.endswith(")")):
                raise InvalidError(f"label selector {part!r}: values must be in parentheses, like (a,b)")
            values = frozenset(v.strip() for v in rest[1:-1].split(",") if v.strip())
            return Requirement(key.strip(), operator, values)  # type: ignore[arg-type]
    for symbol, operator in (("!=", "!="), ("==", "="), ("=", "=")):
        if symbol in part:
            key, _, value = part.partition(symbol)
            return Requirement(key.strip(), operator, frozenset({value.strip()}))  # type: ignore[arg-type]
    if part.startswith("!"):
        return Requirement(part[1:].strip(), "!exists")
    return Requirement(part, "exists")


def parse_selector(text: str | None) -> LabelSelector | None:
    if text is None or not text.strip():
        return None
    requirements = tuple(_parse_requirement(part) for part in _split_top_level(text))
    for requirement in requirements:
        if not requirement.key or " " in requirement.key:
            raise InvalidError(f"label selector {text!r}: {requirement.key!r} is not a label key")
    return LabelSelector(requirements)
