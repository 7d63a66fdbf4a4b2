"""Status the daemons report to `fabric api`: observed facts, stored apart from desired state.

Observed state is reported, never fed back as desired: nothing here changes a document's content.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fabric.model.base import Model
from fabric.model.names import IfName, Name, Revision


class PhaseTiming(Model):
    """How long one phase of the last sync took."""

    phase: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    seconds: float = Field(ge=0)


class SyncResult(Model):
    """Outcome of the last sync attempt."""

    applied_revision: Revision = Field(description="Revision of the last document fully applied.")
    applied_hash: str = Field(default="", pattern=r"^(sha256:[0-9a-f]{64})?$")
    attempted_revision: Revision = 0
    ok: bool = True
    failing_phase: str = ""
    reason: str = Field(default="", max_length=4096)
    retryable: bool = False
    drift: list[str] = Field(default_factory=list, description="FRR lines differing after apply.")
    paused: bool = False
    phases: list[PhaseTiming] = Field(default_factory=list)


class PortStatus(Model):
    """Oper state of a port as the switch sees it."""

    name: IfName
    oper: Literal["up", "down", "unknown"] = "unknown"


class LldpNeighbour(Model):
    """One LLDP neighbour heard on a port (APPL_DB `LLDP_ENTRY_TABLE`)."""

    port: IfName
    chassis_id: str = Field(default="", max_length=128)
    port_id: str = Field(default="", max_length=128)
    sys_name: str = Field(default="", max_length=255)


class BgpSession(Model):
    """One BGP session from `show bgp vrf all summary json`."""

    vrf: str = Field(max_length=32)
    peer: str = Field(max_length=64)
    state: str = Field(max_length=32)
    remote_as: int | None = None
    prefixes_received: int | None = None


class SwitchStatus(Model):
    """What `fabric switch` reports on change and as a heartbeat."""

    name: Name
    sync: SyncResult
    ports: list[PortStatus] = Field(default_factory=list)
    lldp: list[LldpNeighbour] = Field(default_factory=list)
    bgp: list[BgpSession] = Field(default_factory=list)


class ObjectCondition(Model):
    """Whether one Kubernetes object made it into the firewall's ruleset."""

    object: str = Field(max_length=512, description="kind/namespace/name")
    accepted: bool
    reason: str = Field(default="", max_length=4096)


class FirewallStatus(Model):
    """What `fabric firewall` reports on change and as a heartbeat."""

    name: Name
    sync: SyncResult
    rules: int = Field(default=0, ge=0)
    elements: int = Field(default=0, ge=0)
    conditions: list[ObjectCondition] = Field(default_factory=list)
    bgp: list[BgpSession] = Field(default_factory=list)
