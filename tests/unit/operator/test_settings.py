"""Where the operator keeps uploaded packages: beside the jobs' files unless told otherwise."""

from __future__ import annotations

import pytest

from park.operator.settings import OperatorSettings


def test_packages_sit_beside_the_jobs_files_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARK_OPERATOR_JOBS_ROOT", "s3://park/jobs")
    assert OperatorSettings().packages() == "s3://park/packages"
    monkeypatch.setenv("PARK_OPERATOR_PACKAGES_ROOT", "s3://code/uploads")
    assert OperatorSettings().packages() == "s3://code/uploads"
