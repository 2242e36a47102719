"""The CRDs are generated from the models, structural, and committed as generated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from park.core.kinds import KINDS
from park.operator.crds import all_crds
from park.operator.manifests import rendered_crds

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests" / "crds"
FLAGS = ("x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields")


def test_the_committed_manifests_match_the_models() -> None:
    for name, text in rendered_crds().items():
        committed = MANIFESTS / name
        assert committed.exists(), f"{committed} is missing: run python -m park.operator.manifests"
        assert committed.read_text() == text, f"{committed} drifted: run python -m park.operator.manifests"
    assert sorted(p.name for p in MANIFESTS.glob("*.yaml")) == sorted(rendered_crds())


def walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, child in (node.get("properties") or {}).items():
        found += walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += walk(node["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("crd", all_crds(), ids=lambda crd: crd["spec"]["names"]["kind"])
def test_every_schema_is_structural(crd: dict[str, Any]) -> None:
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    for path, node in walk(version["schema"]["openAPIV3Schema"]):
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        assert node.get("additionalProperties") is not False, path
        assert "type" in node or any(node.get(flag) for flag in FLAGS), f"{path} has no type"


def test_names_categories_and_cel_rules() -> None:
    crds = {crd["spec"]["names"]["kind"]: crd for crd in all_crds()}
    assert set(crds) == set(KINDS)
    job = crds["ParkJob"]["spec"]
    assert (job["names"]["plural"], job["names"]["shortNames"], job["names"]["categories"]) == (
        "parkjobs",
        ["pj"],
        ["park"],
    )
    spec = job["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["x-kubernetes-validations"][0]["rule"] == "has(self.entrypoint) != has(self.workload)"
    assert spec["properties"]["queue"]["pattern"] == "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    assert crds["ParkQueue"]["spec"]["scope"] == "Cluster"
    columns = [c["name"] for c in job["versions"][0]["additionalPrinterColumns"]]
    assert columns[:2] == ["Status", "Queue"] and columns[-1] == "Age"


# What `kubectl api-resources` lists on Kubernetes 1.37: each built-in resource and its short names.
BUILT_IN = [
    "bindings",
    "componentstatuses/cs",
    "configmaps/cm",
    "endpoints/ep",
    "events/ev",
    "limitranges/limits",
    "namespaces/ns",
    "nodes/no",
    "persistentvolumeclaims/pvc",
    "persistentvolumes/pv",
    "pods/po",
    "podtemplates",
    "replicationcontrollers/rc",
    "resourcequotas/quota",
    "secrets",
    "serviceaccounts/sa",
    "services/svc",
    "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "customresourcedefinitions/crd/crds",
    "apiservices",
    "controllerrevisions",
    "daemonsets/ds",
    "deployments/deploy",
    "replicasets/rs",
    "statefulsets/sts",
    "tokenreviews",
    "subjectaccessreviews",
    "horizontalpodautoscalers/hpa",
    "cronjobs/cj",
    "jobs",
    "certificatesigningrequests/csr",
    "leases",
    "endpointslices",
    "flowschemas",
    "ingressclasses",
    "ingresses/ing",
    "ipaddresses/ip",
    "networkpolicies/netpol",
    "servicecidrs",
    "runtimeclasses",
    "poddisruptionbudgets/pdb",
    "clusterrolebindings",
    "clusterroles",
    "rolebindings",
    "roles",
    "deviceclasses",
    "resourceclaims",
    "resourceslices",
    "priorityclasses/pc",
    "csidrivers",
    "csinodes",
    "storageclasses/sc",
    "volumeattachments",
    "volumeattributesclasses/vac",
]


def _taken() -> set[str]:
    """Every word kubectl already resolves to a built-in resource: plurals, singulars and short names."""
    taken: set[str] = set()
    for entry in BUILT_IN:
        plural, *short = entry.split("/")
        singular = plural[:-3] + "y" if plural.endswith("ies") else plural.removesuffix("s")
        taken |= {plural, singular, plural.removesuffix("es"), *short}
    return taken


def test_no_short_name_shadows_a_kubernetes_resource() -> None:
    """`kubectl get pc` must still list PriorityClasses, `kubectl get svc` Services, `get node` Nodes."""
    for crd in all_crds():
        names = crd["spec"]["names"]
        assert not set(names["shortNames"]) & _taken(), names["kind"]
        assert names["plural"] not in _taken() and names["singular"] not in _taken()
