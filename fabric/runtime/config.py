"""A daemon's configuration: the loop's settings, a YAML file, `PREFIX_SECTION__FIELD=value` overrides."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

import pydantic
import yaml
from pydantic import Field, model_validator

from fabric.errors import ValidationError
from fabric.model.base import Model
from fabric.model.names import Name

C = TypeVar("C", bound=pydantic.BaseModel)


class ApiSettings(Model):
    """Where a daemon's desired state comes from and its status goes to (`fabric api`)."""

    url: str = Field(description="Base URL of `fabric api`.")
    ca: Path | None = Field(default=None, description="CA bundle that signs the API's certificate.")
    token_file: Path | None = Field(default=None, description="File holding this daemon's bearer token.")
    watch_wait: float = Field(default=30.0, gt=0, le=300, description="Long-poll wait in seconds.")

    def token(self) -> str | None:
        """The bearer token read from `token_file` (None without one)."""
        return self.token_file.read_text().strip() if self.token_file else None


class FrrSettings(Model):
    """How a daemon reaches FRR (inside SONiC's `bgp` container on a switch, a pathspace in the lab)."""

    exec_prefix: list[str] = Field(default_factory=list, description="e.g. [docker, exec, -i, bgp]")
    config_dir: str = Field(default="/etc/frr", description="FRR's config dir as seen by the exec prefix.")
    pathspace: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,64}$")
    vty_socket_dir: str = Field(default="", description="vtysh --vty_socket (instead of a pathspace).")
    vrf_backend: Literal["kernel", "netns"] = "kernel"
    netns_vrfs_always: list[Name] = Field(
        default_factory=list,
        description="netns backend only: VRF namespaces that always exist (made before FRR starts); "
        "each keeps its `vrf X` / `netns` block in the rendering while no tenant VRF uses it.",
    )
    rundir: str = Field(default="", description="frr-reload.py --rundir (its temp files); default its own.")
    bindir: str = Field(default="", description="frr-reload.py --bindir (where vtysh is); default its own.")
    reload_script: str = "/usr/lib/frr/frr-reload.py"
    python: str = "python3"
    timeout: float = Field(default=60.0, gt=0, description="Upper bound of one vtysh/frr-reload call.")

    @model_validator(mode="after")
    def _always_needs_netns(self) -> FrrSettings:
        if self.netns_vrfs_always and self.vrf_backend != "netns":
            raise ValueError("netns_vrfs_always needs vrf_backend: netns")
        return self


class LoopSettings(Model):
    """The loop's periods (see `Timing`), fields of every daemon's configuration."""

    resync_period: float = Field(default=300.0, gt=0, description="Full resync every ~this many s.")
    resync_jitter: float = Field(default=0.2, ge=0, le=1, description="Share of the period to jitter.")
    sync_deadline: float = Field(default=60.0, gt=0, description="One sync is cancelled after this.")
    heartbeat: float = Field(default=30.0, gt=0, description="Status report at least this often.")
    backoff_initial: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=60.0, gt=0)
    metrics_port: int = Field(default=0, ge=0, le=65535, description="Prometheus endpoint; 0 = off.")

    @model_validator(mode="after")
    def _backoff_ordered(self) -> LoopSettings:
        if self.backoff_initial > self.backoff_max:
            raise ValueError("backoff_initial is greater than backoff_max")
        return self


def env_overrides(env: Mapping[str, str], prefix: str, skip: Collection[str] = ()) -> dict[str, Any]:
    """Nested dict from `PREFIX_A__B=value` variables (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for var, raw in sorted(env.items()):
        if not var.startswith(prefix) or var in skip:
            continue
        path = [p.lower() for p in var[len(prefix) :].split("__")]
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        try:
            node[path[-1]] = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            node[path[-1]] = raw
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_daemon_config(model: type[C], path: str | Path | None, overrides: Mapping[str, Any], what: str) -> C:
    """Read the YAML file (if any), merge `overrides` over it, validate as `model`.

    Raises `ValidationError` naming the file and each offending field.
    """
    from fabric.model import problems_of

    data: dict[str, Any] = {}
    where = str(path) if path else "environment"
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValidationError(f"cannot read {path}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValidationError(f"{path}: expected a mapping at the top level")
        data = loaded
    data = _merge(data, overrides)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [(f"{where}: {p}", m) for p, m in problems_of(exc, "config")]
        raise ValidationError(f"invalid {what} configuration", problems=problems) from None


@dataclass
class Timing:
    """The loop's periods, all in seconds."""

    watch_wait: float = 30.0
    debounce: float = 0.0
    debounce_max: float = 0.0
    resync_period: float = 300.0
    resync_jitter: float = 0.2
    sync_deadline: float = 60.0
    heartbeat: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0


def timing(
    settings: LoopSettings, watch_wait: float, *, debounce: float = 0.0, debounce_max: float = 0.0
) -> Timing:
    """The loop's periods from a daemon's configuration (no debounce unless asked)."""
    shared = {
        f.name: getattr(settings, f.name) for f in fields(Timing) if f.name in LoopSettings.model_fields
    }
    return Timing(watch_wait=watch_wait, debounce=debounce, debounce_max=debounce_max, **shared)
