"""What CONFIG_DB asks of a switch's devices, read as data (pure): VRFs, VLANs with their VRF and VNI,
and per port its VRF, PXE/VLAN membership, admin state and MTU."""

from __future__ import annotations

from dataclasses import dataclass

from fabric.core.tables import Tables

TABLES = (
    "DEVICE_METADATA",
    "VRF",
    "VLAN",
    "VLAN_INTERFACE",
    "VXLAN_TUNNEL",
    "VXLAN_TUNNEL_MAP",
    "INTERFACE",
    "VLAN_MEMBER",
    "PORT",
)


@dataclass(frozen=True)
class VlanSpec:
    """A VLAN: its bridge lives in `vrf`'s namespace (None: the switch's), with VXLAN `vni` if mapped."""

    vrf: str | None
    vni: int | None


@dataclass(frozen=True)
class PortSpec:
    """A port: `routed` (an INTERFACE key) in `vrf` (None: default), untagged member of `vlan`,
    admin state and MTU."""

    routed: bool
    vrf: str | None
    vlan: str | None
    admin_up: bool
    mtu: int | None


@dataclass(frozen=True)
class Desired:
    """Everything the stand-in realises, from one read of CONFIG_DB."""

    vrfs: frozenset[str]
    vlans: dict[str, VlanSpec]
    ports: dict[str, PortSpec]
    tunnel: tuple[str, str] | None  # (name, src_ip) of VXLAN_TUNNEL
    mac: str | None  # DEVICE_METADATA|localhost mac: the router MAC of every SVI


def desired(tables: Tables) -> Desired:
    """Read `tables` (``{TABLE: {key: fields}}``) into a `Desired`."""
    vni_of: dict[str, int] = {}
    for key, fields in tables.get("VXLAN_TUNNEL_MAP", {}).items():
        if "vlan" in fields and "vni" in fields and "|" in key:
            vni_of[fields["vlan"]] = int(fields["vni"])
    vlans = {
        name: VlanSpec(tables.get("VLAN_INTERFACE", {}).get(name, {}).get("vrf_name"), vni_of.get(name))
        for name in tables.get("VLAN", {})
    }
    members: dict[str, str] = {}
    for key in tables.get("VLAN_MEMBER", {}):
        vlan, _, port = key.partition("|")
        members[port] = vlan
    routed = {
        key: fields.get("vrf_name") for key, fields in tables.get("INTERFACE", {}).items() if "|" not in key
    }
    ports = {}
    for port, fields in tables.get("PORT", {}).items():
        mtu = fields.get("mtu")
        ports[port] = PortSpec(
            routed=port in routed,
            vrf=routed.get(port),
            vlan=members.get(port),
            admin_up=fields.get("admin_status", "down") == "up",
            mtu=int(mtu) if mtu else None,
        )
    tunnel = next(iter(tables.get("VXLAN_TUNNEL", {}).items()), None)
    return Desired(
        vrfs=frozenset(tables.get("VRF", {})),
        vlans=vlans,
        ports=ports,
        tunnel=(tunnel[0], tunnel[1].get("src_ip", "")) if tunnel else None,
        mac=tables.get("DEVICE_METADATA", {}).get("localhost", {}).get("mac"),
    )


def vxlan_name(tunnel: str, vlan: str) -> str:
    """SONiC's name of the VXLAN device of `vlan` on `tunnel`: ``vtep-1000`` for Vlan1000."""
    return f"{tunnel}-{vlan.removeprefix('Vlan')}"
