"""The parts every resource shares: object metadata, conditions, the strict base model."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

API_GROUP = "park.dev"
API_VERSION = "park.dev/v1alpha1"

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_RULE = "at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def check_dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(f"{value!r} is not a DNS label: use {DNS_LABEL_RULE}")
    return value


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if len(key) > 253 or not _LABEL_KEY.match(key):
            raise ValueError(f"label key {key!r} is not valid (example: app.kubernetes.io/name)")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(
                f"label value {value!r} of {key!r} is not valid (at most 63 letters, digits, -_.)"
            )
    return labels


DnsLabel = Annotated[
    str,
    AfterValidator(check_dns_label),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": DNS_LABEL_PATTERN}),
]


def kubernetes_rules(*rules: tuple[str, str]) -> dict[str, Any]:
    """CEL rules (rule, message) for a model's generated CRD schema, mirroring its model validator."""
    return {"x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]}


Labels = Annotated[dict[str, str], AfterValidator(check_labels)]


class ParkModel(BaseModel):
    """Strict by default: unknown fields are errors, YAML spells fields in camelCase."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ObjectMeta(ParkModel):
    name: DnsLabel
    namespace: DnsLabel | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    finalizers: list[str] = Field(default_factory=list)


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ParkModel):
    type: str
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None


class BaseStatus(ParkModel):
    phase: str | None = None
    message: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


def set_condition(conditions: list[Condition], condition: Condition, *, now: datetime) -> list[Condition]:
    """Return conditions with `condition` set; the transition time moves only when status changes."""
    result: list[Condition] = []
    replaced = False
    for existing in conditions:
        if existing.type != condition.type:
            result.append(existing)
            continue
        replaced = True
        moved = existing.status != condition.status
        when = now if moved or existing.last_transition_time is None else existing.last_transition_time
        result.append(condition.model_copy(update={"last_transition_time": when}))
    if not replaced:
        result.append(condition.model_copy(update={"last_transition_time": now}))
    return result
