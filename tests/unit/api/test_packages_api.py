"""The packages routes: a zip stored once per namespace under its digest, refused in one line when wrong."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from park.api import ApiContext, create_app
from park.control.logs import JobLogs, LogArchive
from park.control.packages import PackageStore
from park.control.store.sqlite import SQLiteStore
from tests.fakes import NoClusters

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMIT = 64 * 1024


def a_zip(files: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in (files or {"package/main.py": "print('hi')"}).items():
            archive.writestr(name, text)
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    db = SQLiteStore(tmp_path / "park.db")
    yield db
    db.close()


def make_client(store: SQLiteStore, tmp_path: Path, packages: PackageStore | None) -> TestClient:
    logs = JobLogs(store=store, substrate=NoClusters(), archive=LogArchive(tmp_path / "logs"))
    context = ApiContext(store=store, logs=logs, token=TOKEN, ready=lambda: True, packages=packages)
    return TestClient(create_app(context), headers=AUTH)


@pytest.fixture
def client(store: SQLiteStore, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(store, tmp_path, PackageStore(tmp_path / "packages", limit=LIMIT)) as test_client:
        yield test_client


def url(digest: str, namespace: str = "team-a") -> str:
    return f"/v1/namespaces/{namespace}/packages/{digest}"


def test_a_package_is_stored_once_under_its_namespace_and_digest(client: TestClient, tmp_path: Path) -> None:
    data = a_zip()
    digest = sha(data)
    assert client.get(url(digest)).status_code == 404

    created = client.put(url(digest), content=data)
    assert created.status_code == 201
    stored = tmp_path / "packages" / "team-a" / f"{digest}.zip"
    assert created.json() == {
        "namespace": "team-a",
        "sha256": digest,
        "uri": stored.as_uri(),
        "size": len(data),
    }
    assert stored.read_bytes() == data

    assert client.get(url(digest)).json() == created.json()
    again = client.put(url(digest), content=data)
    assert again.status_code == 200 and again.json() == created.json()
    assert client.get(url(digest, "team-b")).status_code == 404  # namespaces do not share packages


@pytest.mark.parametrize(
    ("digest", "body", "code", "reason", "words"),
    [
        ("0" * 64, a_zip(), 422, "Invalid", f"the body's sha256 is {sha(a_zip())}"),
        ("not-a-digest", a_zip(), 422, "Invalid", "is not a sha256 digest"),
        (sha(b"plain text"), b"plain text", 422, "Invalid", "is not a zip file"),
        (
            sha(a_zip({"../escape.py": ""})),
            a_zip({"../escape.py": ""}),
            422,
            "Invalid",
            "a file outside its own directory",
        ),
        (sha(b"x" * (LIMIT + 1)), b"x" * (LIMIT + 1), 413, "TooLarge", "over the 65536 bytes limit"),
    ],
)
def test_a_wrong_body_is_refused_in_one_line_and_nothing_is_stored(
    client: TestClient, tmp_path: Path, digest: str, body: bytes, code: int, reason: str, words: str
) -> None:
    response = client.put(url(digest), content=body)
    assert response.status_code == code
    answer: dict[str, Any] = response.json()
    assert answer["reason"] == reason
    assert words in answer["message"] and "\n" not in answer["message"]
    assert not list((tmp_path / "packages").rglob("*.zip"))


def test_a_streamed_body_over_the_limit_is_refused_without_a_length(client: TestClient) -> None:
    chunks = (b"x" * 4096 for _ in range(LIMIT // 4096 + 2))  # chunked: no Content-Length to judge by
    response = client.put(url("0" * 64), content=chunks)
    assert response.status_code == 413
    assert response.json()["reason"] == "TooLarge"
    assert response.json()["message"].startswith("the package is over")  # stopped while it came


def test_a_namespace_that_is_not_a_dns_label_is_refused(client: TestClient) -> None:
    data = a_zip()
    response = client.put(url(sha(data), namespace="Team_A"), content=data)
    assert response.status_code == 422
    assert "namespace" in response.json()["message"]


def test_packages_need_the_token(client: TestClient) -> None:
    data = a_zip()
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        assert client.put(url(sha(data)), content=data, headers=headers).status_code == 401
        assert client.get(url(sha(data)), headers=headers).status_code == 401


def test_a_server_without_a_package_store_says_so(store: SQLiteStore, tmp_path: Path) -> None:
    with make_client(store, tmp_path, None) as client:
        response = client.get(url("0" * 64))
    assert response.status_code == 404
    assert "stores no packages" in response.json()["message"]


def test_a_job_naming_a_local_path_is_refused_with_what_to_do(client: TestClient) -> None:
    def job(runtime_env: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "park.dev/v1alpha1",
            "kind": "ParkJob",
            "metadata": {"name": "local"},
            "spec": {"entrypoint": "python main.py", "runtimeEnv": runtime_env},
        }

    jobs = "/v1/namespaces/default/jobs"
    for env, field in (
        ({"working_dir": "/home/me/src"}, "working_dir"),
        ({"working_dir": "s3://b/p.zip", "py_modules": ["s3://b/m.zip", "./mods"]}, "py_modules[1]"),
    ):
        refused = client.post(jobs, json=job(env))
        assert refused.status_code == 422
        assert refused.json()["message"].startswith(f"spec.runtimeEnv.{field}: ")
        assert "`park apply` uploads it" in refused.json()["message"]
    uris = {"working_dir": "file:///srv/p.zip", "py_modules": ["s3://b/m.zip"]}
    assert client.post(jobs, json=job(uris)).status_code == 201
