"""`SwitchState`: everything one SONiC switch must be, as the store decides it.

What a switch observes about itself (its local VLAN <-> VNI map, port oper state) is *not* here: that
is the daemon's input from the device.  Lists are normalised (ports in the switch's natural order,
VRFs by VNI, prefixes sorted) so that the same intent always has the same hash.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal, Self

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from fabric.model.base import Document, Model, Problems
from fabric.model.names import Description, IfName, Mtu, Name, RealAsn, VlanId, Vni, VrfName, natural_key
from fabric.model.prefixes import Allowed, AllowedPrefix, address_key, normalise_allowed

PortRole = Literal["uplink", "unprovisioned", "machine", "firewall", "exit", "unused"]
SwitchRole = Literal["leaf", "spine"]


class Loopbacks(Model):
    """The switch's loopback addresses (on `Loopback0`)."""

    ipv4: ipaddress.IPv4Address
    ipv6: ipaddress.IPv6Address | None = None


class Mgmt(Model):
    """The management interface: never redistributed, never a fabric port."""

    interface: IfName = "eth0"
    gateway: ipaddress.IPv4Address | None = None


class Switch(Model):
    """Identity and addressing of the switch."""

    name: Name
    role: SwitchRole
    asn: RealAsn
    router_id: ipaddress.IPv4Address
    loopbacks: Loopbacks
    vtep: ipaddress.IPv4Address | None = Field(default=None, description="VTEP source address (leaf).")
    mgmt: Mgmt = Mgmt()
    sonic_version: str = Field(
        default="", pattern=r"^[A-Za-z0-9._-]{0,32}$", description="SONiC release, e.g. 202405."
    )


class Range(Model):
    """An inclusive integer range."""

    first: int
    last: int

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.first > self.last:
            raise ValueError(f"first {self.first} is greater than last {self.last}")
        return self

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.first <= value <= self.last

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


class VlanRange(Range):
    """Local VLANs a leaf may give to L3VNIs."""

    first: VlanId
    last: VlanId


class VniRange(Range):
    """The tenant VNIs of the partition: VRFs `Vrf<vni>` in it are owned by the daemon."""

    first: Vni
    last: Vni


class Port(Model):
    """A front-panel port and what it is for."""

    name: IfName
    role: PortRole
    admin: Literal["up", "down"] = "up"
    mtu: Mtu = 9000
    vrf: VrfName | None = Field(default=None, description="Tenant VRF (machine ports only).")
    description: Description = ""
    allow: list[Allowed] = Field(
        default_factory=list, description="What the machine on this port may announce (machine ports)."
    )

    _sort_allow = field_validator("allow")(normalise_allowed)

    @model_validator(mode="after")
    def _fields_fit_role(self) -> Self:
        problems = []
        if self.role == "machine" and self.vrf is None:
            problems.append(("vrf", "a machine port needs the VRF of its machine"))
        if self.role != "machine" and self.vrf is not None:
            problems.append(("vrf", f"only machine ports sit in a tenant VRF, this one is {self.role}"))
        if self.role != "machine" and self.allow:
            problems.append(("allow", f"only machine ports carry an allow list, this one is {self.role}"))
        if problems:
            raise Problems(problems)
        return self


class Vrf(Model):
    """A tenant VRF with its L3VNI; the name is always `Vrf<vni>`."""

    name: VrfName
    vni: Vni

    @model_validator(mode="after")
    def _name_is_derived(self) -> Self:
        if self.name != f"Vrf{self.vni}":
            raise Problems([("name", f"must be Vrf{self.vni} for VNI {self.vni}")])
        return self


class FirewallPort(Model):
    """A firewall attached to a leaf port: it gets the EVPN routes of `vnis` and may announce `allow`."""

    port: IfName
    vnis: list[Vni] = Field(min_length=1)
    allow: list[Allowed] = Field(min_length=1, description="The firewall's underlay addresses.")

    _sort_allow = field_validator("allow")(normalise_allowed)

    @field_validator("vnis")
    @classmethod
    def _sort_vnis(cls, vnis: list[int]) -> list[int]:
        return sorted(set(vnis))


class ExitPort(Model):
    """An exit (border) router on a switch port: not a machine and not one of our switches.  It
    exchanges the EVPN routes of `vnis` (the external networks it routes, e.g. the internet's default
    routes) and may announce `allow` in the underlay (its VTEP)."""

    port: IfName
    vnis: list[Vni] = Field(min_length=1, description="L3VNIs of the external networks it routes.")
    allow: list[Allowed] = Field(min_length=1, description="The exit router's underlay addresses (VTEP).")

    _sort_allow = field_validator("allow")(normalise_allowed)

    @field_validator("vnis")
    @classmethod
    def _sort_vnis(cls, vnis: list[int]) -> list[int]:
        return sorted(set(vnis))


class SwitchState(Document):
    """Desired state of one switch (leaf or spine)."""

    switch: Switch
    uplinks: list[IfName] = Field(default_factory=list, description="Ports towards the other layer.")
    pxe_vlan: VlanId | None = Field(default=None, description="Untagged VLAN of unprovisioned ports.")
    vlan_range: VlanRange | None = None
    vni_range: VniRange | None = None
    ports: list[Port] = Field(default_factory=list)
    vrfs: list[Vrf] = Field(default_factory=list)
    firewalls: list[FirewallPort] = Field(default_factory=list)
    exits: list[ExitPort] = Field(
        default_factory=list,
        description="Exit routers cabled to this switch. Left out of the JSON while empty.",
    )
    dhcp_relay: list[ipaddress.IPv4Address] = Field(
        default_factory=list, description="DHCP servers of the PXE VLAN."
    )
    paused: bool = Field(
        default=False,
        description="Maintenance: the switch daemon applies nothing and reports paused "
        "(POST /v1/switches/{name}/pause, /resume). Left out of the JSON while false.",
    )

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Absent while unset: documents without the fields keep their hash (backward compatible).
        data = handler(self)
        if isinstance(data, dict):
            if not self.paused:
                data.pop("paused", None)
            if not self.exits:
                data.pop("exits", None)
        return data

    @field_validator("uplinks")
    @classmethod
    def _sort_uplinks(cls, v: list[str]) -> list[str]:
        return sorted(v, key=natural_key)

    @field_validator("ports")
    @classmethod
    def _sort_ports(cls, v: list[Port]) -> list[Port]:
        return sorted(v, key=lambda p: natural_key(p.name))

    @field_validator("vrfs")
    @classmethod
    def _sort_vrfs(cls, v: list[Vrf]) -> list[Vrf]:
        return sorted(v, key=lambda vrf: vrf.vni)

    @field_validator("firewalls")
    @classmethod
    def _sort_firewalls(cls, v: list[FirewallPort]) -> list[FirewallPort]:
        return sorted(v, key=lambda f: natural_key(f.port))

    @field_validator("exits")
    @classmethod
    def _sort_exits(cls, v: list[ExitPort]) -> list[ExitPort]:
        return sorted(v, key=lambda e: natural_key(e.port))

    @field_validator("dhcp_relay")
    @classmethod
    def _sort_relay(cls, v: list[ipaddress.IPv4Address]) -> list[ipaddress.IPv4Address]:
        return sorted(set(v), key=address_key)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        from fabric.model.switch_checks import switch_problems

        problems = switch_problems(self)
        if problems:
            raise Problems(problems)
        return self

    # Lookups used by the renderers; documents are small, so linear scans keep the model plain.
    def port(self, name: str) -> Port | None:
        """The port called `name`, or None."""
        return next((p for p in self.ports if p.name == name), None)

    def ports_with_role(self, role: PortRole) -> list[Port]:
        """Ports of one role, in the switch's natural order."""
        return [p for p in self.ports if p.role == role]

    @property
    def is_leaf(self) -> bool:
        return self.switch.role == "leaf"


__all__ = [
    "AllowedPrefix",
    "ExitPort",
    "FirewallPort",
    "Loopbacks",
    "Mgmt",
    "Port",
    "PortRole",
    "Switch",
    "SwitchState",
    "VlanRange",
    "VniRange",
    "Vrf",
]
