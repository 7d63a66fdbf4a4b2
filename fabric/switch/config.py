"""Configuration of `fabric switch`: one YAML file, overridden by `FABRIC_SWITCH_*` environment variables.

An environment variable names a field by its path, sections joined by a double underscore:
``FABRIC_SWITCH_NAME=leaf01``, ``FABRIC_SWITCH_API__URL=https://api:8443``,
``FABRIC_SWITCH_GUARD__MAX_PORT_SHARE=0.5``.  Values are parsed as YAML scalars/lists, so
``FABRIC_SWITCH_FRR__EXEC_PREFIX='[docker, exec, -i, bgp]'`` works.  See templates/switch.example.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from fabric.model.base import Model
from fabric.model.names import Name
from fabric.runtime import config as runtime_config

ENV_PREFIX = "FABRIC_SWITCH_"
DEFAULT_DATABASE_CONFIG = "/var/run/redis/sonic-db/database_config.json"


class ApiConfig(runtime_config.ApiSettings):
    """Where the desired state comes from."""

    url: str = Field(default="", description="Base URL of `fabric api`; empty means --state FILE only.")


class SonicDbConfig(Model):
    """How to reach SONiC's Redis: `database_config.json`, or a socket with explicit db ids."""

    database_config: Path | None = Path(DEFAULT_DATABASE_CONFIG)
    unix_socket: Path | None = Field(default=None, description="Overrides the socket of database_config.")
    config_db: int = Field(default=4, ge=0, le=15)
    appl_db: int = Field(default=0, ge=0, le=15)
    state_db: int = Field(default=6, ge=0, le=15)


class GuardConfig(Model):
    """Refuse a sync that takes down more than these shares at once (unless forced)."""

    max_port_share: float = Field(default=0.25, ge=0, le=1)
    max_vrf_share: float = Field(default=0.5, ge=0, le=1)
    min_ports: int = Field(default=2, ge=0, description="Taking down this many ports is always allowed.")
    min_vrfs: int = Field(default=1, ge=0, description="Removing this many VRFs is always allowed.")


class SwitchConfig(runtime_config.LoopSettings):
    """The whole daemon configuration (see templates/switch.example.yaml); the loop's periods are shared."""

    name: Name
    api: ApiConfig = ApiConfig()
    sonic: SonicDbConfig = SonicDbConfig()
    frr: runtime_config.FrrSettings = runtime_config.FrrSettings()
    guard: GuardConfig = GuardConfig()
    log_format: Literal["json", "text"] = "json"


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict from `FABRIC_SWITCH_A__B=value` variables (values parsed as YAML scalars)."""
    return runtime_config.env_overrides(env, ENV_PREFIX, skip=(ENV_PREFIX + "CONFIG",))


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> SwitchConfig:
    """Read the YAML file (if any), apply environment overrides, validate.

    Raises `ValidationError` naming the file and each offending field.
    """
    overrides = env_overrides(os.environ if env is None else env)
    return runtime_config.load_daemon_config(SwitchConfig, path, overrides, "switch")
