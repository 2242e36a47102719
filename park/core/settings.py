"""Settings, read from `PARK_*` environment variables by entry points and passed down explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_state_dir() -> Path:
    return Path.home() / ".park"


class Settings(BaseSettings):
    """Everything an entry point may configure. Never read at import time."""

    model_config = SettingsConfigDict(env_prefix="PARK_", extra="ignore")

    state_dir: Path = Field(default_factory=default_state_dir)
    host: str = "127.0.0.1"
    port: int = Field(8470, ge=0, le=65535)
    server: str | None = None
    token: str | None = None
    resync_seconds: float = Field(30.0, gt=0)
    cluster_check_seconds: float = Field(5.0, gt=0)
    default_cluster_cpus: float | None = Field(None, gt=0)
    ray_start_timeout_seconds: float = Field(120.0, gt=0)
    scheduler_min_runtime_seconds: float = Field(60.0, ge=0)
    scheduler_aging_seconds: float = Field(300.0, gt=0)
    federation_enabled: bool = True
    federation_host: str = "127.0.0.1"
    federation_port: int = Field(8471, ge=0, le=65535)
    federation_announce: list[str] = Field(default_factory=list)
    federation_heartbeat_seconds: float = Field(2.0, gt=0)
    federation_lease_seconds: float = Field(30.0, gt=0)
    federation_offline_after_seconds: float = Field(20.0, gt=0)

    @property
    def token_file(self) -> Path:
        return self.state_dir / "admin.token"

    @property
    def server_file(self) -> Path:
        return self.state_dir / "server.json"

    @property
    def database_file(self) -> Path:
        return self.state_dir / "park.db"

    @property
    def federation_dir(self) -> Path:
        """The gateway's key (the federation authority) and its work database."""
        return self.state_dir / "federation"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def jobs_dir(self) -> Path:
        """Per-job directories: workload reports, preemption markers, default checkpoint storage."""
        return self.state_dir / "jobs"

    @property
    def packages_dir(self) -> Path:
        """Uploaded working directories (`<namespace>/<sha256>.zip`), which Ray reads as file:// URIs."""
        return self.state_dir / "packages"
