"""`park operator api` reads the PARK_* settings `park up` reads; its flags, where given, win."""

from __future__ import annotations

from pathlib import Path

import pytest

from park.cli.operator import api_serving
from park.core.settings import Settings


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in {
        "PARK_STATE_DIR": str(tmp_path / "state"),
        "PARK_HOST": "192.0.2.10",
        "PARK_PORT": "9470",
        "PARK_FEDERATION_HOST": "192.0.2.11",
        "PARK_FEDERATION_PORT": "9471",
        "PARK_FEDERATION_ANNOUNCE": '["/ip4/203.0.113.7/tcp/8471"]',
        "PARK_FEDERATION_LEASE_SECONDS": "12",
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "state"


def test_the_settings_say_where_it_listens_and_keeps_its_files(environment: Path) -> None:
    serving = api_serving(Settings())

    assert (serving.host, serving.port) == ("192.0.2.10", 9470)
    assert serving.token_file == environment / "admin.token"
    federation = serving.federation
    assert federation is not None
    assert (federation.host, federation.port) == ("192.0.2.11", 9471)
    assert federation.directory == environment / "federation"
    assert federation.announce == ["/ip4/203.0.113.7/tcp/8471"]
    assert federation.policy.lease_s == 12  # the same timings as under park up, not the protocol's defaults


def test_flags_replace_the_settings_they_name_and_only_those(environment: Path, tmp_path: Path) -> None:
    serving = api_serving(
        Settings(),
        port=18770,
        token_file=tmp_path / "token",
        federation_dir=tmp_path / "volume",
        federation_announce=["/ip4/198.51.100.1/tcp/8471"],
    )

    assert (serving.host, serving.port, serving.token_file) == ("192.0.2.10", 18770, tmp_path / "token")
    assert serving.federation is not None
    assert (serving.federation.port, serving.federation.directory) == (9471, tmp_path / "volume")
    assert serving.federation.announce == ["/ip4/198.51.100.1/tcp/8471"]


def test_the_gateway_is_off_when_disabled_unless_a_flag_asks_for_it(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARK_FEDERATION_ENABLED", "false")
    assert api_serving(Settings()).federation is None
    asked = api_serving(Settings(), federation_port=8471).federation
    assert asked is not None and asked.port == 8471


def test_without_settings_it_serves_where_park_up_would(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("PARK_STATE_DIR", "PARK_HOST", "PARK_PORT", "PARK_FEDERATION_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    serving = api_serving(Settings())
    assert (serving.host, serving.port, serving.token_file) == (
        "127.0.0.1",
        8470,
        tmp_path / ".park" / "admin.token",
    )
