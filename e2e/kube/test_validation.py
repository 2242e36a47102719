"""What `park apply` refuses, `kubectl apply` refuses, naming the field: the real API server runs the
generated CRDs' OpenAPI rules, their CEL rules and their list map keys on each case of
`tests/invalid_objects.py` (the unit tests check Park's models refuse the same). Dry runs: nothing is kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.invalid_objects import INVALID, SAMPLES, Invalid, sample

from .conftest import kubectl

pytestmark = pytest.mark.e2e


def dry_run(kubeconfig: Path, document: dict[str, object]) -> tuple[int, str]:
    result = kubectl(
        kubeconfig,
        *("apply", "--dry-run=server", "-n", "default", "-f", "-"),
        check=False,
        stdin=yaml.safe_dump(document),
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.yaml")))
def test_the_api_server_accepts_every_sample(kubeconfig: Path, name: str) -> None:
    code, output = dry_run(kubeconfig, sample(name))
    assert code == 0, output


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case.id)
def test_the_api_server_refuses_what_park_refuses_and_names_the_field(
    kubeconfig: Path, case: Invalid
) -> None:
    code, output = dry_run(kubeconfig, case.document())
    assert code != 0, f"the API server accepted {case.id}"
    assert "is invalid" in output and case.field in output, output


def test_short_names_leave_kubernetes_own_to_kubernetes(kubeconfig: Path) -> None:
    """`pc` is still PriorityClass (the API server's own system classes), `pcl` is ParkCluster."""
    classes = kubectl(kubeconfig, "get", "pc", "-o", "name").stdout
    assert "priorityclass.scheduling.k8s.io/system-cluster-critical" in classes
    assert kubectl(kubeconfig, "get", "pcl", "-A", "-o", "name").returncode == 0
    assert "service/kubernetes" in kubectl(kubeconfig, "get", "svc", "-n", "default", "-o", "name").stdout
