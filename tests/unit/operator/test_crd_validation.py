"""What `kubectl apply` accepts, `park apply` accepts: the models and the generated CRD schemas agree.

Each invalid object is refused by Park's model and by the CRD's OpenAPI schema (evaluated here as JSON
Schema draft 4, which has OpenAPI 3.0's semantics for the keywords CRDs use). A rule OpenAPI cannot say
(a CEL rule, a list's map keys) is only looked up here; the e2e tests see the API server apply it.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from park.core.errors import InvalidError
from park.core.kinds import KINDS
from park.core.loading import parse_resource
from park.operator.crds import crd
from tests.invalid_objects import INVALID, SAMPLES, Invalid, sample


def openapi_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = crd(KINDS[kind])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def as_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A CRD's structural schema as JSON Schema: int-or-string and nullable become types."""
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if node.get("nullable") and "type" in out:
        out["type"] = [*([out["type"]] if isinstance(out["type"], str) else out["type"]), "null"]
    if "properties" in node:
        out["properties"] = {k: as_json_schema(v) for k, v in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out[key] = as_json_schema(node[key])
    return out


def schema_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(as_json_schema(openapi_schema(doc["kind"])))
    return [".".join(str(p) for p in e.absolute_path) + ": " + e.message for e in validator.iter_errors(doc)]


def kubernetes_rules_along(kind: str, path: tuple[str | int, ...]) -> list[str]:
    """CEL messages and list-map keys declared on the schema nodes from the root down to `path`."""
    node = openapi_schema(kind)
    found: list[str] = []
    for part in (None, *path):
        if part is not None:
            node = node["items"] if isinstance(part, int) else node.get("properties", {}).get(part, {})
        found += [rule["message"] for rule in node.get("x-kubernetes-validations", [])]
        found += node.get("x-kubernetes-list-map-keys", [])
    return found


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.yaml")))
def test_every_sample_passes_the_model_and_the_schema(name: str) -> None:
    doc = sample(name)
    parse_resource(doc)
    assert schema_errors(doc) == []


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_what_the_model_refuses_the_crd_refuses(case: Invalid) -> None:
    doc = case.document()
    with pytest.raises(InvalidError) as refused:
        parse_resource(doc)
    assert case.field in str(refused.value), str(refused.value)
    if case.rule is None:
        errors = schema_errors(doc)
        assert any(case.field in error.split(": ")[0] for error in errors), errors
    else:
        assert schema_errors(doc) == [], "a rule the OpenAPI schema cannot express"
        rules = kubernetes_rules_along(doc["kind"], case.path)
        assert any(rule.startswith(case.rule) for rule in rules), rules


@pytest.mark.parametrize("quantity", ["2", "500m", "4Gi", "1.5", ".5", "1e3", "2Ei", "100n", "+1", 0, 64])
def test_every_quantity_kubernetes_accepts_park_accepts(quantity: str | int) -> None:
    doc = sample("parkjob.yaml")
    doc["spec"]["resources"]["perReplica"]["cpu"] = quantity
    assert parse_resource(doc).spec.resources.per_replica.cpu_cores() >= 0
    assert schema_errors(doc) == []


def test_the_name_rule_is_the_models_dns_label() -> None:
    (rule,) = openapi_schema("ParkJob")["x-kubernetes-validations"]
    assert rule["rule"] == (
        "size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')"
    )
    assert all(openapi_schema(kind)["x-kubernetes-validations"] == [rule] for kind in KINDS)
