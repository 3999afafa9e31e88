"""The central config (TOML): one model per section, unknown keys refused
by name ("Central config" in CONTRACTS.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, field_validator

from ravao_protocol.configfile import load_toml
from ravao_protocol.settings import BrokerSettings

DEFAULT_CONFIG = "/etc/ravao/central.toml"
CONFIG_ENV = "RAVAO_CENTRAL_CONFIG"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _database_url(value: str) -> str:
    if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
        raise ValueError("must start with sqlite:/// or postgresql://")
    return value


class DatabaseConfig(Section):
    """Where the record lives: SQLite (a file) or PostgreSQL."""

    url: Annotated[StrictStr, AfterValidator(_database_url)] = "sqlite:////var/lib/ravao-central/central.db"


class CentralMqttConfig(BrokerSettings):
    """The broker the collector takes events from (``[mqtt]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    ca_file: StrictStr = ""
    client_id: Annotated[StrictStr, Field(min_length=1, max_length=128)] = "ravao-central"
    shared_group: Annotated[StrictStr, Field(max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")] = ""


class PrivacyConfig(Section):
    """The key file: the secret behind pseudonyms, sealed identities and the audit chain."""

    key_file: StrictStr = "/var/lib/ravao-central/record.key"


class TracingConfig(Section):
    """The contract's tracing rules' two numbers."""

    default_dwell_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 60
    min_overlap_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 15


class RetentionConfig(Section):
    """How long events are kept."""

    days: Annotated[int, Field(ge=1, le=3660)] = 30


class WebConfig(Section):
    """Where the console listens."""

    listen: StrictStr = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT")
        return value


class CentralConfig(Section):
    """The whole central config file."""

    database: DatabaseConfig = DatabaseConfig()
    mqtt: CentralMqttConfig = CentralMqttConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    tracing: TracingConfig = TracingConfig()
    retention: RetentionConfig = RetentionConfig()
    web: WebConfig = WebConfig()


def config_path(given: str | None) -> Path:
    """`--config`, else ``$RAVAO_CENTRAL_CONFIG``, else ``/etc/ravao/central.toml``."""
    return Path(given or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_central_config(path: str | Path) -> CentralConfig:
    """Read and check the central config at `path`."""
    return load_toml(path, CentralConfig)
