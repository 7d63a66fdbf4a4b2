"""Configuration of `fabric firewall run`: one YAML file, overridden by `FABRIC_FIREWALL_*` variables.

Same rules as the switch daemon's: a variable names a field by its path, sections joined by a double
underscore (``FABRIC_FIREWALL_API__URL=https://api:8443``, ``FABRIC_FIREWALL_KUBE__KUBECONFIG=/etc/k``);
values are YAML scalars or lists (``FABRIC_FIREWALL_NFT__EXEC_PREFIX='[ip, netns, exec, fw]'``).
See templates/firewall.example.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from fabric.model.base import Model
from fabric.model.names import Name
from fabric.runtime import config as runtime_config

ENV_PREFIX = "FABRIC_FIREWALL_"


class ApiConfig(runtime_config.ApiSettings):
    """Where the `FirewallState` comes from and status goes to."""

    url: str = Field(min_length=1, description="Base URL of `fabric api`.")
    timeout: float = Field(default=15.0, gt=0, description="Upper bound of one other API call.")


class KubeConfig(Model):
    """How to reach the cluster's API server."""

    kubeconfig: Path | None = Field(default=None, description="A kubeconfig file; none = in-cluster.")
    context: str | None = None
    watch_timeout: int = Field(default=300, ge=1, le=3600, description="Server-side end of one watch.")


class NftConfig(Model):
    """How to run nft (a prefix such as ``[ip, netns, exec, fw]`` to reach another namespace)."""

    exec_prefix: list[str] = Field(default_factory=list)
    nft: str = "nft"


class PlumbingConfig(Model):
    """Where the VRF, bridge and vxlan devices of the firewall's VRFs are made (netlink)."""

    netns: str | None = Field(
        default=None, description="A named network namespace (`ip netns`); none = the daemon's own."
    )


class FirewallConfig(runtime_config.LoopSettings):
    """The whole daemon configuration (the loop's periods are shared with the switch daemon's)."""

    name: Name
    api: ApiConfig
    kube: KubeConfig = KubeConfig()
    nft: NftConfig = NftConfig()
    frr: runtime_config.FrrSettings | None = Field(
        default_factory=runtime_config.FrrSettings,
        description="How to reach FRR (the switch daemon's settings); null: FRR is not managed.",
    )
    plumbing: PlumbingConfig | None = Field(
        default_factory=PlumbingConfig,
        description="Kernel devices of the VRFs; null: not managed (e.g. FRR's netns VRF backend).",
    )
    isolation: Literal["boundary", "kubernetes"] = "boundary"
    debounce: float = Field(default=0.2, ge=0, description="Quiet time that ends a burst of events.")
    debounce_max: float = Field(default=2.0, ge=0, description="A burst never delays a sync longer.")
    metrics_address: str = "0.0.0.0"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _debounce_ordered(self) -> FirewallConfig:
        if self.debounce > self.debounce_max:
            raise ValueError("debounce is greater than debounce_max")
        return self


def env_overrides(env: Mapping[str, str], prefix: str = ENV_PREFIX) -> dict[str, Any]:
    """Nested dict from `FABRIC_FIREWALL_A__B=value` variables (values parsed as YAML scalars)."""
    return runtime_config.env_overrides(env, prefix)


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> FirewallConfig:
    """Read the YAML file (if any), apply environment overrides, validate.

    Raises `ValidationError` naming the file and each offending field.
    """
    overrides = env_overrides(os.environ if env is None else env)
    return runtime_config.load_daemon_config(FirewallConfig, path, overrides, "firewall")
