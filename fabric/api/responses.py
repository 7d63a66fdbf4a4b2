"""What the API answers, as pydantic models: the OpenAPI document's response schemas.

They describe the JSON the handlers return (the tests validate live answers against them), so a client
generated from `/v1/openapi.json` reads every list, show and write answer with the right types.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fabric.adapters.store.bodies import ExitLink


class Out(BaseModel):
    """An answer: extra keys are refused, so a model that drifts from its handler fails the tests."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PartitionInfo(Out):
    name: str
    loopback_prefix: str
    vlan_first: int
    vlan_last: int
    pxe_vlan: int
    dhcp_relay: list[str]
    mgmt_gateway: str | None


class ProjectInfo(Out):
    name: str
    description: str


class PrefixUsage(Out):
    cidr: str
    parent: str | None
    free: str = Field(description="Free values (a decimal string: IPv6 counts exceed 64 bits).")
    size: str


class NetworkInfo(Out):
    name: str
    partition: str
    kind: str
    project: str | None
    parent: str | None
    vni: int | None
    nat: bool
    destination_prefixes: list[str]
    extra_prefixes: list[str]
    child_length_v4: int | None
    child_length_v6: int | None
    prefixes: list[PrefixUsage] | None = Field(default=None, description="Show only.")


class IpInfo(Out):
    address: str
    network: str
    project: str | None
    machine: str | None
    kind: str
    name: str


class SwitchPortInfo(Out):
    switch: str
    name: str
    neighbour_switch: str | None
    neighbour_port: str | None
    neighbour_mac: str | None
    admin_down: bool = Field(description="Set down by an operator (PATCH …/ports/PORT).")


class SwitchInfo(Out):
    name: str
    partition: str
    rack: str
    role: str
    asn: int
    loopback: str
    sonic_version: str
    paused: bool = Field(default=False, description="Maintenance: its daemon applies nothing.")
    exits: list[ExitLink] = Field(default_factory=list, description="Exit routers cabled to it.")
    ports: list[SwitchPortInfo] | None = Field(default=None, description="Show only.")


class NicInfo(Out):
    mac: str
    machine: str
    name: str


class MachineInfo(Out):
    name: str
    partition: str
    rack: str
    role: str | None
    project: str | None
    asn: int | None
    nics: list[NicInfo] | None = Field(default=None, description="Show only.")
    ips: list[str] | None = Field(default=None, description="Show only.")


class TokenInfo(Out):
    id: str
    role: str
    subject: str
    description: str
    created_at: float
    expires_at: float | None
    revoked: bool


class Named(Out):
    name: str


class Paused(Out):
    """A switch paused (its daemon applies nothing) or resumed."""

    name: str
    paused: bool


class NetworkCreated(Out):
    name: str
    vni: int | None
    prefixes: list[str]


class SwitchCreated(Out):
    name: str
    asn: int
    loopback: str


class IpAcquired(Out):
    address: str
    network: str
    project: str | None
    firewall: str | None = None


class IpReleased(Out):
    address: str
    released: bool


class Updated(Out):
    name: str
    changed: list[str] = Field(description="Fields the update changed (empty: nothing to do).")


class Deleted(Out):
    name: str
    deleted: bool


class TokenCreated(Out):
    id: str
    role: str
    subject: str
    expires_at: float | None
    token: str = Field(description="The secret, shown once and never stored.")


class TokenRevoked(Out):
    id: str
    revoked: bool


class StatusReceived(Out):
    name: str
    received: bool


class FleetRow(Out):
    kind: str
    name: str
    desired_revision: int
    applied_revision: int | None
    outdated: bool = Field(
        description="The content the daemon applied is not the desired content (hash differs); FRR drift "
        "after an apply is the status' `sync.drift`."
    )
    last_error: str
    heartbeat_age: float | None
    stale: bool
    paused: bool = Field(default=False, description="A switch in maintenance (its daemon applies nothing).")


class AuditEntry(Out):
    id: int
    at: float
    who: str
    action: str
    target: str
    detail: dict[str, object]


class DiffEntry(Out):
    path: str
    from_: object = Field(alias="from")
    to: object


class Health(Out):
    ok: bool


class PortAdminSet(Out):
    switch: str
    port: str
    admin_status: str


class ApplyResult(Out):
    kind: str
    name: str
    action: str = Field(description="created, updated, unchanged or deleted (pruned)")
    changed: list[str]


class Applied(Out):
    dry_run: bool = Field(description="True: nothing was written; this is what would have happened.")
    results: list[ApplyResult]
    documents: list[str] = Field(description="Desired-state documents that got (would get) a new revision.")
