"""CustomResourceDefinitions generated from the `park.core` models: one source of truth for validity.

Pydantic's JSON schema is turned into a Kubernetes *structural* OpenAPI v3 schema: references inlined,
`X | None` as `nullable`, free-form objects as `x-kubernetes-preserve-unknown-fields`, no
`additionalProperties: false` (the API server rejects unknown fields itself under strict field
validation, kubectl's default), and the models' cross-field rules as CEL `x-kubernetes-validations`
(declared next to each model in `park.core.resources`, so the API server and `park apply` agree).
The schema of `metadata` is the API server's own; Park's stricter name (a DNS label) is a CEL rule at
the root, the one place a CRD's rules can read `metadata.name`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from park.core.kinds import KINDS, KindInfo
from park.core.meta import API_GROUP, DNS_LABEL_PATTERN, DNS_LABEL_RULE, kubernetes_rules

VERSION = "v1alpha1"
CATEGORY = "park"
_DROPPED_KEYS = ("title", "default", "additionalProperties", "discriminator", "examples")
NAME_RULE = kubernetes_rules(
    (
        f"size(self.metadata.name) <= 63 && self.metadata.name.matches('{DNS_LABEL_PATTERN}')",
        f"metadata.name must be a DNS label: {DNS_LABEL_RULE}",
    )
)


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            column["priority"] = self.priority
        if self.description:
            column["description"] = self.description
        return column


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")
COLUMNS: dict[str, tuple[PrinterColumn, ...]] = {
    "ParkCluster": (
        PrinterColumn("Status", ".status.phase"),
        PrinterColumn("Queue", ".spec.queue"),
        PrinterColumn("CPUs", ".status.resources.CPU", "number"),
        PrinterColumn("GPUs", ".status.resources.GPU", "number"),
        PrinterColumn("Dashboard", ".status.dashboardUrl", priority=1),
        AGE,
    ),
    "ParkJob": (
        PrinterColumn("Status", ".status.phase"),
        PrinterColumn("Queue", ".spec.queue"),
        PrinterColumn("Priority", ".spec.priority", "integer"),
        PrinterColumn("Attempt", ".status.attempt", "integer"),
        PrinterColumn("Message", ".status.message", priority=1),
        AGE,
    ),
    "ParkService": (
        PrinterColumn("Status", ".status.phase"),
        PrinterColumn("Queue", ".spec.queue"),
        PrinterColumn("Priority", ".spec.priority", "integer"),
        PrinterColumn("Endpoints", ".status.endpoints", priority=1),
        AGE,
    ),
    "ParkQueue": (
        PrinterColumn("Status", ".status.phase"),
        PrinterColumn("Cohort", ".spec.cohort"),
        PrinterColumn("Admitted", ".status.admittedJobs", "integer"),
        PrinterColumn("Pending", ".status.pendingJobs", "integer"),
        AGE,
    ),
    "ParkPriorityClass": (PrinterColumn("Value", ".spec.value", "integer"), AGE),
    "ParkResourceFlavor": (
        PrinterColumn("Accelerator", ".spec.accelerator"),
        PrinterColumn("Node Labels", ".spec.nodeLabels", priority=1),
        AGE,
    ),
    "FederatedNode": (
        PrinterColumn("Status", ".status.phase"),
        PrinterColumn("Peer", ".spec.peerId", priority=1),
        PrinterColumn("Last Seen", ".status.lastSeen", "date"),
        PrinterColumn("Reputation", ".status.reputation", "number"),
        PrinterColumn("Credits", ".status.credits", "number"),
        AGE,
    ),
}


def crd(info: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind, as a plain dict ready for YAML."""
    spec_schema = _part_schema(info, "spec")
    status_schema = _part_schema(info, "status")
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural(info)}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced" if info.namespaced else "Cluster",
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": plural(info),
                "singular": info.kind.lower(),
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.to_dict() for c in COLUMNS[info.kind]],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": _description(info),
                            "required": ["spec"] if "spec" in _required(info) else [],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                            **NAME_RULE,
                        }
                    },
                }
            ],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    return [crd(info) for info in KINDS.values()]


def plural(info: KindInfo) -> str:
    """Kubernetes plurals carry the `park` prefix (`parkjobs`), so they never clash with core kinds."""
    return f"{info.kind.lower()}s" if not info.kind.endswith("s") else f"{info.kind.lower()}es"


def _required(info: KindInfo) -> list[str]:
    required = info.model.model_json_schema(by_alias=True).get("required", [])
    return list(required) if isinstance(required, list) else []


def _description(info: KindInfo) -> str:
    doc = (info.model.model_fields["spec"].annotation.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ") or info.kind


def _part_schema(info: KindInfo, part: str) -> dict[str, Any]:
    full = info.model.model_json_schema(by_alias=True, mode="validation")
    definitions = full.get("$defs", {})
    return structural(full["properties"][part], definitions)


def structural(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """One pydantic JSON-schema node → a structural Kubernetes schema node."""
    node = copy.deepcopy(schema)
    if "$ref" in node:
        target = definitions[node.pop("$ref").rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **node}
        return structural(merged, definitions)
    if "anyOf" in node:
        return _any_of(node, definitions)
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = node.pop("allOf")[0]
        return structural({**inner, **node}, definitions)
    out: dict[str, Any] = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    _openapi_bounds(out)
    if out.get("type") == "object" or "properties" in node:
        _object(node, out, definitions)
    elif out.get("type") == "array":
        out["items"] = structural(node.get("items") or {}, definitions)
    elif "type" not in out and "enum" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True  # Any
    if "enum" in out and "type" not in out:
        out["type"] = _enum_type(out["enum"])
    return out


def _object(node: dict[str, Any], out: dict[str, Any], definitions: dict[str, Any]) -> None:
    out["type"] = "object"
    if "properties" in node:
        out["properties"] = {k: structural(v, definitions) for k, v in node["properties"].items()}
        if node.get("x-kubernetes-preserve-unknown-fields"):
            out["x-kubernetes-preserve-unknown-fields"] = True
        return
    values = node.get("additionalProperties")
    if isinstance(values, dict) and values:
        out["additionalProperties"] = structural(values, definitions)
    else:
        out["x-kubernetes-preserve-unknown-fields"] = True


def _openapi_bounds(out: dict[str, Any]) -> None:
    """JSON Schema 2020's numeric `exclusiveMinimum` → OpenAPI 3.0's `minimum` + boolean flag."""
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[limit] = value
            out[bound] = True


def _any_of(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    every = node.pop("anyOf")
    options = [o for o in every if o.get("type") != "null"]
    nullable = len(options) < len(every)
    rest = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
    if len(options) == 1:
        out = structural({**options[0], **rest}, definitions)
    else:
        types = {o.get("type") for o in options}
        if types <= {"integer", "string"}:
            out = {**rest, "x-kubernetes-int-or-string": True}
        elif types <= {"integer", "number"}:
            out = {**rest, "type": "number"}
        else:
            out = {**rest, "x-kubernetes-preserve-unknown-fields": True}
    if nullable:
        out["nullable"] = True
    return out


def _enum_type(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) for v in values):
        return "integer"
    return "string"
