"""Intents as request bodies: what the API accepts and the store executes, one transaction each."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from fabric.model.base import Model
from fabric.model.names import TEXT_PATTERN, IfName, Name, VlanId, Vni
from fabric.model.prefixes import AddressText, AllowedText, Ipv4PrefixText, PrefixText
from fabric.model.switch import Range

Mac = str
PrefixLength = Annotated[int, Field(ge=0, le=128)]  # at most 32 for IPv4: the store says so, naming it
MAC_PATTERN = r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"


class IntRange(Range):
    """An inclusive range of positive integers (a pool: VNIs, ASNs, VLANs)."""

    first: int = Field(ge=1)
    last: int = Field(ge=1)


class PartitionCreate(Model):
    """A partition and its pools."""

    name: Name
    vni_range: IntRange
    machine_asn_range: IntRange
    switch_asn_range: IntRange
    loopback_prefix: Ipv4PrefixText = Field(description="IPv4 prefix the switches' loopbacks come from.")
    vlan_range: IntRange = IntRange(first=1001, last=2000)
    pxe_vlan: VlanId = 4000
    dhcp_relay: list[ipaddress.IPv4Address] = Field(default_factory=list)
    mgmt_gateway: ipaddress.IPv4Address | None = None


class ProjectCreate(Model):
    """A tenant."""

    name: Name
    description: str = Field(default="", max_length=200, pattern=TEXT_PATTERN)


NetworkKind = Literal["underlay", "super", "private", "external"]


class NetworkCreate(Model):
    """A network; a private one is carved from its super `parent` and gets one VNI."""

    name: Name
    partition: Name
    kind: NetworkKind
    project: Name | None = None
    parent: Name | None = Field(default=None, description="The super network of a private network.")
    prefixes: list[PrefixText] = Field(default_factory=list, description="Given prefixes (not for private).")
    lengths: dict[Literal["4", "6"], PrefixLength] = Field(
        default_factory=dict, description="Child prefix length per family (private; default: parent's)."
    )
    child_lengths: dict[Literal["4", "6"], PrefixLength] = Field(
        default_factory=dict, description="Default child prefix length per family (super)."
    )
    vni: Vni | None = Field(default=None, description="Private/external: given VNI, else from the pool.")
    nat: bool = False
    destination_prefixes: list[PrefixText] = Field(default_factory=list)
    extra_prefixes: list[AllowedText] = Field(
        default_factory=list, description="Prefixes machines may announce, e.g. '10.244.0.0/16 le 24'."
    )

    # What each kind needs, stated in the document as well (the store refuses the rest, naming it).
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": "private"}}},
                    "then": {
                        "required": ["parent", "project"],
                        "properties": {
                            "parent": {"type": "string"},
                            "project": {"type": "string"},
                            "prefixes": {"maxItems": 0},
                        },
                    },
                    "else": {"required": ["prefixes"], "properties": {"prefixes": {"minItems": 1}}},
                },
                {
                    "if": {"properties": {"kind": {"enum": ["underlay", "super"]}}},
                    "then": {"properties": {"vni": {"type": "null"}}},
                },
            ]
        }
    )


class IpAcquire(Model):
    """An IP: a given address or the next free one of the network."""

    network: Name
    address: AddressText | None = None
    project: Name | None = None
    kind: Literal["static", "ephemeral"] = "static"
    name: str = Field(default="", max_length=63, pattern=r"^[A-Za-z0-9._-]*$")
    family: Literal[4, 6] = 4
    firewall: Name | None = Field(
        default=None,
        description=(
            "Attach the IP to this firewall as its own address in an external network it serves "
            "(the source address its SNAT translates to there); released when the firewall is freed."
        ),
    )


class ExitLink(Model):
    """An exit (border) router cabled to one of the switch's ports: not a machine, not one of our
    switches.  The switch peers with it (BGP unnumbered, EVPN) and exchanges only the routes of the
    external `networks` it routes; in the underlay it accepts only the router's `underlay` addresses."""

    name: Name = Field(description="The exit router, e.g. exit01.")
    port: IfName = Field(description="The switch port it is cabled to.")
    networks: list[Name] = Field(min_length=1, description="External networks it routes (their VNIs).")
    underlay: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = Field(
        min_length=1, description="Its underlay addresses (VTEP, loopback) the switch accepts from it."
    )


class SwitchCreate(Model):
    """A switch declared by an operator; ASN and loopback come from the pools unless given."""

    name: Name
    partition: Name
    rack: Name
    role: Literal["leaf", "spine"]
    asn: int | None = Field(default=None, ge=1, le=4294967294)
    loopback: ipaddress.IPv4Address | None = None
    sonic_version: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,32}$")
    ports: list[IfName] = Field(default_factory=list)
    exits: list[ExitLink] = Field(default_factory=list, description="Exit routers cabled to it.")

    @field_validator("exits")
    @classmethod
    def _one_exit_per_port(cls, exits: list[ExitLink]) -> list[ExitLink]:
        ports = [e.port for e in exits]
        twice = sorted({p for p in ports if ports.count(p) > 1})
        if twice:
            raise ValueError(f"port {', '.join(twice)} named by more than one exit")
        return sorted(exits, key=lambda e: (e.port, e.name))


class PortAdmin(Model):
    """A switch port's administrative state as an operator sets it."""

    admin_status: Literal["up", "down"]


class NicSpec(Model):
    """A NIC of a machine."""

    name: IfName
    mac: Mac = Field(pattern=MAC_PATTERN)

    @field_validator("mac", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v


class MachineCreate(Model):
    """A machine with its NICs."""

    name: Name
    partition: Name
    rack: Name
    nics: list[NicSpec] = Field(min_length=1)


class MachineAllocate(Model):
    """Allocate a machine into a project: its private network first, then any external ones."""

    project: Name
    networks: list[Name] = Field(min_length=1)
    ips: list[AddressText] = Field(
        default_factory=list, description="Given addresses, else the next free ones."
    )


class FirewallAllocate(Model):
    """Allocate a machine as a firewall serving `networks` (private and external)."""

    project: Name | None = None
    networks: list[Name] = Field(min_length=1)


class TokenCreate(Model):
    """A bearer token for a role (and the project, switch or firewall it is limited to)."""

    role: Literal["admin", "project", "switch", "firewall"]
    subject: str = Field(default="", max_length=63, pattern=r"^[A-Za-z0-9._-]*$")
    description: str = Field(default="", max_length=200, pattern=TEXT_PATTERN)
    expires_in: int | None = Field(default=None, ge=1, description="Seconds until it expires.")

    # The document states the rule below too, so a client generated from it knows.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"role": {"not": {"const": "admin"}}}},
            "then": {"properties": {"subject": {"minLength": 1}}, "required": ["subject"]},
        }
    )

    @model_validator(mode="after")
    def _subject(self) -> Self:
        if self.role != "admin" and not self.subject:
            raise ValueError(f"a {self.role} token needs a subject (the {self.role}'s name)")
        return self


class ApplySpec(Model):
    """`fabric apply -f FILE`: the sections of the file, applied in one transaction.

    A section that is present (even empty) puts its kind under management: with `prune`, objects of
    that kind in the file's scope that the file does not name are deleted (see `fabric.adapters.store
    .apply`).  `dry_run` runs everything and rolls it back, answering what would have changed.
    """

    partitions: list[PartitionCreate] | None = None
    projects: list[ProjectCreate] | None = None
    networks: list[NetworkCreate] | None = None
    switches: list[SwitchCreate] | None = None
    machines: list[MachineCreate] | None = None
    prune: bool = False
    dry_run: bool = False
