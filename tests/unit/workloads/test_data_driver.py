"""The entry point's one-line errors: bad parameters fail before Ray is touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from park.workloads.data.driver import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--params", "{}"], "invalid workload parameter input: Field required"),
        (["--params", '{"input": "/d", "batch_size": 0}'], "invalid workload parameter batch_size"),
        (["--params", "[1]"], "--params must be a JSON object"),
    ],
)
def test_bad_parameters_are_one_line_errors(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PARK_JOB_DIR", str(tmp_path))
    monkeypatch.delenv("PARK_WORKLOAD_PARAMS", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["state"] == "Failed" and message in report["error"]


def test_a_missing_input_fails_before_ray_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARK_JOB_DIR", str(tmp_path))
    monkeypatch.setenv("PARK_WORKLOAD_PARAMS", json.dumps({"input": str(tmp_path / "nowhere")}))
    assert main([]) == 2  # ray.init is forbidden in unit tests: reaching it would raise
    assert capsys.readouterr().err.strip() == f"error: input {tmp_path / 'nowhere'} does not exist"


def test_an_output_with_other_files_is_refused_not_wiped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    precious = tmp_path / "home" / "thesis.tex"
    precious.parent.mkdir()
    precious.write_text("years of work")
    monkeypatch.setenv("PARK_JOB_DIR", str(tmp_path / "job"))
    params = {"input": str(tmp_path / "in"), "output": str(tmp_path / "home")}
    monkeypatch.setenv("PARK_WORKLOAD_PARAMS", json.dumps(params))
    assert main([]) == 2
    assert "holds other files than Parquet" in capsys.readouterr().err
    assert precious.read_text() == "years of work"
