"""`park up` for real: a local Ray head, SQLite, the API and the CLI, driven the way a user drives them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import pytest

from park.core.errors import ConflictError
from park.core.resources import ParkJob
from tests.integration.conftest import REPO, ParkUp, wait_for

pytestmark = pytest.mark.integration

EXAMPLES = REPO / "examples"


def job_yaml(name: str, entrypoint: str, *, retries: int = 0, working_dir: Path = EXAMPLES / "hello") -> str:
    return f"""
apiVersion: park.dev/v1alpha1
kind: ParkJob
metadata: {{name: {name}}}
spec:
  entrypoint: {json.dumps(entrypoint)}
  runtimeEnv: {{working_dir: {working_dir}}}
  entrypointResources: {{cpu: 0.5}}
  retries: {retries}
"""


def test_the_hello_example_runs_to_success_with_its_output_in_the_logs(park_up: ParkUp) -> None:
    applied = park_up.cli("apply", "-f", str(EXAMPLES / "hello-job.yaml"))
    assert applied.returncode == 0, applied.stderr
    assert "job/hello created" in applied.stdout
    job = park_up.wait_phase("ParkJob", "default", "hello", {"Succeeded", "Failed"}, timeout=180)
    assert job.status.phase == "Succeeded", job.status.message

    logs = park_up.cli("logs", "job", "hello")
    assert "pi is about 3.1" in logs.stdout
    assert "hello from Park: done" in logs.stdout

    table = park_up.cli("get", "jobs")
    assert table.returncode == 0
    assert "hello" in table.stdout and "Succeeded" in table.stdout

    as_json = json.loads(park_up.cli("get", "job", "hello", "-o", "json").stdout)
    assert as_json["status"]["phase"] == "Succeeded"
    assert as_json["status"]["attempt"] == 1

    described = park_up.cli("describe", "job", "hello").stdout
    assert "Submitted" in described and "Succeeded" in described

    again = park_up.cli("apply", "-f", str(EXAMPLES / "hello-job.yaml"))
    assert "job/hello unchanged" in again.stdout


def test_apply_uploads_a_relative_working_dir_once_and_the_job_runs_from_it(
    park_up: ParkUp, tmp_path: Path
) -> None:
    code = tmp_path / "project" / "code"
    (code / "__pycache__").mkdir(parents=True)
    (code / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"not python")
    (code / "greet.py").write_text("print(open('message.txt').read().strip())\n")
    (code / "message.txt").write_text("hello from an uploaded package\n")
    manifest = code.parent / "greet.yaml"
    manifest.write_text(job_yaml("greet", "python greet.py", working_dir=Path("code")))

    applied = park_up.cli("apply", "-f", str(manifest))  # run from the repository: relative to the file
    assert applied.returncode == 0, applied.stderr
    assert "(working_dir, 2 files," in applied.stdout and " uploaded" in applied.stdout
    job = park_up.wait_phase("ParkJob", "default", "greet", {"Succeeded", "Failed"}, timeout=180)
    assert job.status.phase == "Succeeded", job.status.message
    assert "hello from an uploaded package" in park_up.cli("logs", "job", "greet").stdout

    packages = park_up.state_dir / "packages" / "default"
    uri = job.spec.runtime_env["working_dir"] if isinstance(job, ParkJob) else None
    assert isinstance(uri, str) and uri.startswith(packages.as_uri() + "/") and uri.endswith(".zip")
    stored = {zip_file: zip_file.stat().st_mtime_ns for zip_file in packages.glob("*.zip")}
    assert uri in {zip_file.as_uri() for zip_file in stored}
    again = park_up.cli("apply", "-f", str(manifest))
    assert again.returncode == 0, again.stderr
    assert " unchanged" in again.stdout.splitlines()[0] and "job/greet unchanged" in again.stdout
    assert {zip_file: zip_file.stat().st_mtime_ns for zip_file in packages.glob("*.zip")} == stored


def test_a_failing_program_is_retried_then_fails_with_its_error_recorded(park_up: ParkUp) -> None:
    script = "python -c 'import sys; print(\"about to fail\"); sys.exit(3)'"
    applied = park_up.cli("apply", "-f", "-", stdin=job_yaml("fails", script, retries=1))
    assert applied.returncode == 0, applied.stderr
    job = park_up.wait_phase("ParkJob", "default", "fails", {"Succeeded", "Failed"}, timeout=180)
    assert isinstance(job, ParkJob)
    assert (job.status.phase, job.status.attempt, job.status.failed_attempts) == ("Failed", 2, 2)
    with park_up.client() as client:
        reasons = [e["reason"] for e in client.events("ParkJob", "default", "fails")]
        assert reasons.count("Submitted") == 2
        assert "AttemptFailed" in reasons and "Failed" in reasons
        assert "about to fail" in client.logs("default", "fails")


def test_follow_streams_logs_until_the_job_ends(park_up: ParkUp) -> None:
    park_up.cli("apply", "-f", "-", stdin=job_yaml("follow", "python hello.py --tasks 2 --sleep 3"))
    followed = park_up.cli("logs", "job", "follow", "-f")
    assert followed.returncode == 0, followed.stderr
    assert "hello from Park: done" in followed.stdout
    assert park_up.get("ParkJob", "default", "follow").status.phase == "Succeeded"


def test_deleting_a_running_job_stops_it(park_up: ParkUp) -> None:
    park_up.cli("apply", "-f", "-", stdin=job_yaml("long", "python hello.py --tasks 1 --sleep 300"))
    park_up.wait_phase("ParkJob", "default", "long", {"Running"}, timeout=120)
    deleted = park_up.cli("delete", "job", "long")
    assert deleted.returncode == 0, deleted.stderr
    with park_up.client() as client:
        wait_for(
            lambda: not [j for j in client.list_objects("jobs") if j.metadata.name == "long"],
            timeout=60,
            what="the job to be gone",
        )


def test_a_stale_update_is_a_conflict(park_up: ParkUp) -> None:
    park_up.cli(
        "apply", "-f", "-", stdin=job_yaml("conflict", "python hello.py", working_dir=EXAMPLES / "hello")
    )
    with park_up.client() as client:
        first = client.get("ParkJob", "default", "conflict")
        client.update(first.model_copy(update={"spec": first.spec.model_copy(update={"priority": 1})}))
        with pytest.raises(ConflictError, match="resourceVersion"):
            client.update(first.model_copy(update={"spec": first.spec.model_copy(update={"priority": 2})}))


def test_bad_input_gets_one_line_and_creates_nothing(park_up: ParkUp) -> None:
    bad = job_yaml("good", "python hello.py") + "---\n" + job_yaml("Bad_Name", "python hello.py")
    result = park_up.cli("apply", "-f", "-", stdin=bad)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: <stdin>: document 2")
    assert len(result.stderr.strip().splitlines()) == 1
    assert park_up.cli("get", "job", "good").returncode == 1

    malformed = park_up.cli("apply", "-f", "-", stdin="kind: [")
    assert malformed.returncode == 1 and "malformed YAML" in malformed.stderr


def test_a_wrong_token_is_refused_with_one_line(park_up: ParkUp) -> None:
    env = {**park_up.env, "PARK_TOKEN": "wrong"}
    result = park_up.cli("get", "jobs", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: invalid bearer token"


def test_a_second_park_up_on_the_same_state_dir_is_refused(park_up: ParkUp) -> None:
    result = park_up.cli("up", "--port", "0")
    assert result.returncode == 1
    assert "another `park up`" in result.stderr


def _second_park_up(park_up: ParkUp, state_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`park up` over another state directory; one that starts anyway is stopped cleanly, then fails."""
    argv = [sys.executable, "-m", "park", "up", "--state-dir", str(state_dir), "--cpus", "1", *flags]
    process = subprocess.Popen(argv, env=park_up.env, cwd=REPO, stdout=PIPE, stderr=PIPE, text=True)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=90)
        raise AssertionError(f"a second `park up` ran beside the first: {err[-2000:]}") from None
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def test_a_second_park_up_on_a_taken_port_fails_in_one_line(park_up: ParkUp, tmp_path: Path) -> None:
    """Two platforms on one machine must not share a port: the API's, or the federation gateway's (which
    py-libp2p would otherwise share, splitting connections between the two gateways)."""
    with park_up.client() as client:
        (gateway,) = client.federation()["addrs"]
    federation_port = gateway.split("/tcp/")[1].split("/")[0]
    api_port = park_up.url.rsplit(":", 1)[1]
    for flags, flag in (
        (["--port", api_port, "--federation-port", "0"], "--port"),
        (["--port", "0", "--federation-port", federation_port], "--federation-port"),
    ):
        result = _second_park_up(park_up, tmp_path / flag.strip("-"), *flags)
        port = flags[flags.index(flag) + 1]
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and f"127.0.0.1:{port} is already in use" in last, result.stderr
        assert f"choose another with {flag} N" in last


def test_watch_streams_every_phase_as_server_sent_events(park_up: ParkUp) -> None:
    with park_up.client() as client:
        since = client.resource_version()
        park_up.cli("apply", "-f", "-", stdin=job_yaml("watched", "python hello.py --tasks 1"))
        seen: list[tuple[str, str | None]] = []
        for change in client.watch(resource_version=since, kinds="jobs"):
            obj = change["object"]
            if obj["metadata"]["name"] != "watched":
                continue
            seen.append((change["type"], obj["status"].get("phase")))
            if obj["status"].get("phase") in ("Succeeded", "Failed"):
                break
    assert seen[0] == ("ADDED", None)
    phases = [phase for _, phase in seen]
    assert phases.index("Submitting") < phases.index("Running") < phases.index("Succeeded")
