"""Artifacts by URI: the same calls for a plain path and file://, clear errors for what cannot be reached.

S3 is the same code over pyarrow's S3 filesystem; e2e/kube/test_artifacts_s3.py runs it against MinIO.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from park.workloads import artifacts
from park.workloads.contract import JobContext, Preemption


@pytest.mark.parametrize("scheme", ["", "file://"])
def test_write_read_exists_remove_for_paths_and_file_uris(tmp_path: Path, scheme: str) -> None:
    location = scheme + str(tmp_path / "job" / "report.json")
    assert artifacts.read_json(location) is None and not artifacts.exists(location)
    artifacts.write_json(location, {"step": 3})
    assert artifacts.read_json(location) == {"step": 3} and artifacts.exists(location)
    assert [p.name for p in (tmp_path / "job").iterdir()] == ["report.json"], "no temporary file is left"
    artifacts.remove(location)
    artifacts.remove(location)  # nothing to remove is not an error
    assert not artifacts.exists(location)


def test_a_torn_or_non_object_report_is_no_report(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"step": ')
    (tmp_path / "b.json").write_text("[1, 2]")
    assert artifacts.read_json(str(tmp_path / "a.json")) is None
    assert artifacts.read_json(str(tmp_path / "b.json")) is None


def test_uris_join_with_slashes_and_paths_with_the_os() -> None:
    assert artifacts.join("s3://bucket/jobs/", "a", "report.json") == "s3://bucket/jobs/a/report.json"
    assert artifacts.join("/var/jobs", "a") == "/var/jobs/a"


@pytest.mark.parametrize(
    ("jobs", "packages"),
    [
        ("s3://bucket/jobs", "s3://bucket/packages"),
        ("s3://bucket/park/jobs/", "s3://bucket/park/packages"),
        ("s3://bucket", "s3://bucket/packages"),  # a bucket's root has no sibling: inside it
        ("/var/lib/park/jobs", "/var/lib/park/packages"),
    ],
)
def test_a_sibling_sits_beside_its_location(jobs: str, packages: str) -> None:
    assert artifacts.beside(jobs, "packages") == packages


def test_a_path_becomes_a_file_uri_that_ray_can_read(tmp_path: Path) -> None:
    assert artifacts.as_uri(str(tmp_path / "a b.zip")) == f"file://{tmp_path}/a%20b.zip"
    assert artifacts.as_uri("s3://bucket/a.zip") == "s3://bucket/a.zip"


def test_size_is_none_for_nothing_and_bytes_for_a_file(tmp_path: Path) -> None:
    location = str(tmp_path / "a.zip")
    assert artifacts.size(location) is None
    artifacts.write_bytes(location, b"12345")
    assert artifacts.size(location) == 5
    assert artifacts.size(str(tmp_path)) is None  # a directory is not a file


@pytest.mark.parametrize(
    ("location", "words"),
    [("gs://bucket/x", "not gs://"), ("s3:///no-bucket", "names a bucket")],
)
def test_unsupported_locations_say_what_is_supported(location: str, words: str) -> None:
    with pytest.raises(artifacts.ArtifactError, match=words):
        artifacts.read_bytes(location)


def test_s3_settings_come_from_the_aws_environment() -> None:
    fs, path = artifacts.filesystem(
        "s3://park/jobs/ns/a",
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
    )
    assert path == "park/jobs/ns/a"
    assert fs.type_name == "s3"


def test_the_contract_reports_and_preempts_through_the_job_dir(tmp_path: Path) -> None:
    context = JobContext.from_env({"PARK_JOB_DIR": f"file://{tmp_path}/job", "PARK_ATTEMPT": "2"})
    assert context.checkpoint_dir == f"file://{tmp_path}/job/checkpoints"
    context.report(step=1)
    context.report(loss=0.5)
    assert context.read_report() | {"updatedAt": 0} == {"step": 1, "loss": 0.5, "attempt": 2, "updatedAt": 0}
    seen_by_a_worker = Preemption(context)
    driver = Preemption(context)
    assert not seen_by_a_worker.requested()
    driver.request()
    assert (tmp_path / "job" / "preempt-requested-2").exists()
    assert Preemption(context).requested(), "another process sees the marker"
