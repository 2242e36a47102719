"""`park apply` turns a job's local directories into URIs of zips uploaded once per content."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from park.cli.uploads import upload_local_files, zip_local_files
from park.client import ParkClient
from park.core.errors import InvalidError
from park.core.loading import load_documents
from park.core.resources import ParkJob


class PackageServer:
    """The API's two package calls, in memory; it records every request."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.method)
        *_, namespace, _, digest = request.url.path.split("/")
        uri = f"s3://bucket/packages/{namespace}/{digest}.zip"
        if request.method == "PUT":
            self.stored[uri] = request.content
            return httpx.Response(201, json={"uri": uri})
        if uri in self.stored:
            return httpx.Response(200, json={"uri": uri})
        return httpx.Response(404, json={"reason": "NotFound", "message": "no package", "code": 404})


def job(runtime_env: dict[str, object]) -> ParkJob:
    text = json.dumps(
        {
            "apiVersion": "park.dev/v1alpha1",
            "kind": "ParkJob",
            "metadata": {"name": "hello", "namespace": "team-a"},
            "spec": {"entrypoint": "python main.py", "runtimeEnv": runtime_env},
        }
    )
    (obj,) = load_documents(text, source="test")
    assert isinstance(obj, ParkJob)
    return obj


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print('hi')")
    (tmp_path / "mods" / "helpers").mkdir(parents=True)
    (tmp_path / "mods" / "helpers" / "__init__.py").write_text("")
    return tmp_path


def test_local_paths_become_uris_and_an_unchanged_directory_is_sent_once(project: Path) -> None:
    server = PackageServer()
    console = Console(record=True, width=200)
    local = job({"working_dir": "src", "py_modules": ["mods/helpers", "s3://bucket/other.zip"]})
    files = zip_local_files(local, project)
    assert sorted(files) == ["py_modules[0]", "working_dir"]

    with ParkClient("http://park", "t", transport=httpx.MockTransport(server)) as client:
        first = upload_local_files(client, local, files, console)
        again = upload_local_files(client, local, zip_local_files(local, project), console)

    assert isinstance(first, ParkJob)
    env = first.spec.runtime_env
    assert env["working_dir"] == f"s3://bucket/packages/team-a/{files['working_dir'].sha256}.zip"
    assert env["py_modules"] == [
        f"s3://bucket/packages/team-a/{files['py_modules[0]'].sha256}.zip",
        "s3://bucket/other.zip",
    ]
    assert again == first
    assert server.requests == ["GET", "PUT", "GET", "PUT", "GET", "GET"]
    printed = console.export_text()
    assert printed.count(" uploaded") == 2 and printed.count(" unchanged") == 2


def test_a_relative_path_is_read_beside_the_manifest_not_where_the_command_runs(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    files = zip_local_files(job({"working_dir": "src"}), project)
    assert files["working_dir"].files == 1
    assert zip_local_files(job({"working_dir": str(project / "src")}), Path("/")) == files


def test_jobs_without_local_paths_upload_nothing(project: Path) -> None:
    assert zip_local_files(job({"working_dir": "s3://bucket/code.zip"}), project) == {}
    assert zip_local_files(job({"env_vars": {"A": "1"}}), project) == {}


def test_a_missing_directory_or_a_wheel_is_refused_before_anything_is_sent(project: Path) -> None:
    with pytest.raises(InvalidError, match=r"^ParkJob team-a/hello: spec.runtimeEnv.working_dir: .*missing"):
        zip_local_files(job({"working_dir": "missing"}), project)
    with pytest.raises(InvalidError, match=r"py_modules\[0\]: a local wheel is not uploaded"):
        zip_local_files(job({"py_modules": ["dist/helpers-1.0-py3-none-any.whl"]}), project)
