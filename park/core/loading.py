"""Turning YAML or JSON documents into validated resources, with errors that point at the field.

An error names the source (file), the document number and kind/name when known, and the field path:
    examples/job.yaml: document 2 (ParkJob hello): spec.retries: must be >= 0
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from park.core.errors import InvalidError
from park.core.kinds import KINDS, kind_info
from park.core.meta import API_VERSION
from park.core.resources import AnyResource

_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


def format_validation_error(exc: ValidationError) -> str:
    """One line: `path: message; path: message` (first three problems)."""
    parts = []
    for error in exc.errors()[:3]:
        path = ".".join(str(part) for part in error["loc"]) or "(document)"
        message = _MESSAGES.get(error["type"], error["msg"])
        message = message.removeprefix("Value error, ")
        parts.append(f"{path}: {message}")
    more = len(exc.errors()) - 3
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def parse_resource(data: object, *, default_namespace: str = "default") -> AnyResource:
    """Validate one document as a Park resource; scope rules are applied here too."""
    if not isinstance(data, dict):
        raise InvalidError(
            f"expected a mapping with apiVersion, kind, metadata and spec, got {type(data).__name__}"
        )
    api_version = data.get("apiVersion")
    if api_version != API_VERSION:
        raise InvalidError(f"apiVersion: must be {API_VERSION!r}, got {api_version!r}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidError(f"kind: unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")
    info = kind_info(kind)
    data = dict(data)
    metadata = data.get("metadata")
    if isinstance(metadata, dict):
        metadata = dict(metadata)
        if info.namespaced:
            metadata.setdefault("namespace", default_namespace)
        elif metadata.get("namespace"):
            raise InvalidError(f"metadata.namespace: {kind} is cluster-scoped and takes no namespace")
        data["metadata"] = metadata
    try:
        return info.parse(data)
    except ValidationError as exc:
        raise InvalidError(format_validation_error(exc)) from exc


def _describe(data: object) -> str:
    if isinstance(data, dict):
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if data.get("kind") and name:
            return f" ({data['kind']} {name})"
    return ""


def load_documents(text: str, *, source: str, default_namespace: str = "default") -> list[AnyResource]:
    """Parse every document of a YAML (or JSON) stream; the first bad one raises and names itself."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidError(f"{source}: malformed YAML{where}: {problem}") from exc
    if not documents:
        raise InvalidError(f"{source}: no documents found")
    resources = []
    for index, document in enumerate(documents, start=1):
        try:
            resources.append(parse_resource(document, default_namespace=default_namespace))
        except InvalidError as exc:
            raise InvalidError(f"{source}: document {index}{_describe(document)}: {exc}") from exc
    return resources


def dump_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)
