"""Scaling a service: which deployments it offers and how the spec changes."""

from __future__ import annotations

from typing import Any

import pytest

from park.core.errors import InvalidError
from park.core.loading import parse_resource
from park.core.resources import ParkService
from park.ui.actions import Deployment, deployments, scaled


def _service(applications: list[dict[str, Any]], observed: list[dict[str, Any]] | None = None) -> ParkService:
    service = parse_resource(
        {
            "apiVersion": "park.dev/v1alpha1",
            "kind": "ParkService",
            "metadata": {"name": "chat", "namespace": "default"},
            "spec": {"applications": applications},
            "status": {"deployments": observed or []},
        }
    )
    assert isinstance(service, ParkService)
    return service


AUTOSCALED = {
    "name": "llm",
    "import_path": "m:app",
    "deployments": [{"name": "decode", "autoscaling_config": {"min_replicas": 1, "max_replicas": 4}}],
}


def test_the_dialog_offers_spec_deployments_then_those_only_serve_reports() -> None:
    service = _service(
        [
            AUTOSCALED,
            {"name": "emb", "import_path": "m:emb", "deployments": [{"name": "e", "num_replicas": 2}]},
        ],
        observed=[
            {"application": "llm", "name": "decode"},
            {"application": "llm", "name": "tokenize"},
        ],
    )
    assert deployments(service) == [
        Deployment("llm", "decode", None),
        Deployment("emb", "e", 2),
        Deployment("llm", "tokenize", None),
    ]
    assert deployments(service)[1].label == "emb/e (2)"


def test_pinning_replicas_replaces_autoscaling_and_leaves_the_original_alone() -> None:
    service = _service([AUTOSCALED])
    result = scaled(service, application="llm", deployment="decode", replicas=3)
    assert result.spec.applications[0]["deployments"] == [{"name": "decode", "num_replicas": 3}]
    assert "autoscaling_config" in service.spec.applications[0]["deployments"][0]


def test_a_deployment_the_spec_left_implicit_is_added_to_its_application() -> None:
    service = _service([{"name": "llm", "import_path": "m:app"}])
    result = scaled(service, application="llm", deployment="decode", replicas=0)
    assert result.spec.applications[0]["deployments"] == [{"name": "decode", "num_replicas": 0}]


def test_unknown_applications_and_negative_counts_are_refused() -> None:
    service = _service([AUTOSCALED])
    with pytest.raises(InvalidError, match="no application 'nope'"):
        scaled(service, application="nope", deployment="decode", replicas=1)
    with pytest.raises(InvalidError, match="0 or more"):
        scaled(service, application="llm", deployment="decode", replicas=-1)
