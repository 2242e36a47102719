"""A node's directory: its key, its config file, and the files `park node` uses to talk to the daemon.

<dir>/node.key      Ed25519 private key (PKCS#8 PEM, 0600): the node's libp2p identity
<dir>/config.yaml   caps, time windows, gateway, token (see federation/node-config.example.yaml)
<dir>/joined.json   written once the gateway has admitted the node (the token is then spent)
<dir>/status.json   the daemon's state, rewritten every heartbeat (`park node status`)
<dir>/paused        present: take no work (`park node pause` / `resume`)
<dir>/drain         present: finish the current work, then leave and exit (`park node drain`)
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from park.core.errors import InvalidError
from park.core.meta import ParkModel
from park.core.resources import NodeCapabilities
from park.federation.apps import known_apps
from park.federation.policy import TimeWindow


def default_node_dir() -> Path:
    return Path(os.environ.get("PARK_NODE_DIR") or Path.home() / ".park-node")


class NodeConfig(ParkModel):
    gateway: list[str] = Field(default_factory=list, max_length=8)
    token: str | None = None
    caps: NodeCapabilities = Field(default_factory=lambda: NodeCapabilities(apps=["sha256-chain", "probe"]))
    windows: list[str] = Field(default_factory=list)
    pause_when_load_above: float | None = Field(None, gt=0)
    # When the daemon runs as root, work drops to this user; "self" keeps the daemon's own user.
    run_as: str = "nobody"
    isolate_network: bool = True
    python: str | None = None
    max_cpu_seconds: int = Field(3600, gt=0)  # RLIMIT_CPU of one work unit
    # Nodes only dial out (to the gateway), so they need no listening port: behind NAT is fine.
    listen: list[str] = Field(default_factory=list)

    @field_validator("caps")
    @classmethod
    def _known_apps(cls, value: NodeCapabilities) -> NodeCapabilities:
        unknown = sorted(set(value.apps) - set(known_apps()))
        if unknown:
            raise ValueError(f"unknown apps {unknown}; this node has: {', '.join(known_apps())}")
        return value

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for window in value:
            try:
                TimeWindow.parse(window)
            except InvalidError as err:
                raise ValueError(err.message) from None
        return value

    def time_windows(self) -> list[TimeWindow]:
        return [TimeWindow.parse(w) for w in self.windows]

    def sandbox_user(self) -> str | None:
        return None if self.run_as == "self" else self.run_as

    def sandbox_python(self) -> str:
        """The interpreter work runs under: the daemon's own, unless the sandbox user cannot reach it."""
        if self.python:
            return self.python
        if self.sandbox_user() is not None and os.geteuid() == 0 and not _world_executable(sys.executable):
            return "/usr/bin/python3"
        return sys.executable


def _world_executable(path: str) -> bool:
    """Whether any user may run `path`: every directory on the way is o+x, the file o+rx."""
    target = Path(path).resolve()
    try:
        if target.stat().st_mode & 0o005 != 0o005:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in target.parents)
    except OSError:
        return False


@dataclass(frozen=True)
class NodePaths:
    root: Path

    @property
    def key(self) -> Path:
        return self.root / "node.key"

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def joined(self) -> Path:
        return self.root / "joined.json"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.jsonl"

    def ledger_entries(self) -> list[dict[str, Any]]:
        """The signed credit entries the daemon has fetched, oldest first (verify with `verify_chain`)."""
        try:
            lines = self.ledger.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def append_ledger(self, entries: list[dict[str, Any]]) -> None:
        with self.ledger.open("a") as out:
            for entry in entries:
                out.write(json.dumps(entry, sort_keys=True) + "\n")

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def paused(self) -> Path:
        return self.root / "paused"

    @property
    def drain(self) -> Path:
        return self.root / "drain"

    def load_config(self) -> NodeConfig:
        try:
            data = yaml.safe_load(self.config.read_text()) or {}
        except FileNotFoundError:
            raise InvalidError(f"no node config at {self.config} (run `park node init` first)") from None
        except yaml.YAMLError as err:
            raise InvalidError(f"{self.config}: malformed YAML: {str(err).splitlines()[0]}") from None
        try:
            return NodeConfig.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidError(f"{self.config}: {where}: {first['msg']}") from None

    def save_config(self, config: NodeConfig) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(config.to_dict(), sort_keys=False)
        tmp = self.config.with_name("config.yaml.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it may hold a token
        with os.fdopen(fd, "w") as out:
            out.write(text)
        tmp.replace(self.config)

    def write_json(self, path: Path, data: dict[str, Any]) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.replace(path)

    def read_json(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None
