"""The store records a document is built from (plain frozen data, loaded by the store adapter)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PartitionRecord:
    """A partition's ranges as the switches need them."""

    name: str
    vni_first: int
    vni_last: int
    vlan_first: int
    vlan_last: int
    pxe_vlan: int
    dhcp_relay: tuple[str, ...] = ()
    mgmt_gateway: str | None = None


@dataclass(frozen=True)
class NetworkRecord:
    """A network a machine lives in or a firewall serves."""

    name: str
    kind: str
    vni: int | None
    prefixes: tuple[str, ...] = ()
    destination_prefixes: tuple[str, ...] = ()
    nat: bool = False
    extra_prefixes: tuple[str, ...] = ()  # e.g. "10.244.0.0/16 le 24" (pod CIDRs) machines may announce


@dataclass(frozen=True)
class MachineRecord:
    """A machine or firewall with what it was allocated."""

    name: str
    role: str | None  # None (not allocated), "machine" or "firewall"
    asn: int | None = None
    ips: tuple[str, ...] = ()  # its own addresses, every network
    networks: tuple[NetworkRecord, ...] = ()
    project_ips: tuple[str, ...] = ()  # the project's external IPs held by no machine (LB): announcable
    nics: tuple[str, ...] = ()  # NICs cabled to a leaf

    @property
    def private(self) -> NetworkRecord | None:
        """The tenant network (one per allocated machine)."""
        return next((n for n in self.networks if n.kind == "private"), None)

    def ips_in(self, network: NetworkRecord) -> list[str]:
        """Own addresses that fall inside `network`'s prefixes."""
        return inside(self.ips, network)


def inside(addresses: Iterable[str], network: NetworkRecord) -> list[str]:
    """Those of `addresses` that fall inside `network`'s prefixes."""
    nets = [ipaddress.ip_network(p) for p in network.prefixes]
    return [ip for ip in addresses if any(ipaddress.ip_address(ip) in n for n in nets)]


@dataclass(frozen=True)
class ExitRecord:
    """An exit router on a switch port, its external networks' VNIs resolved."""

    name: str
    port: str
    vnis: tuple[int, ...]
    underlay: tuple[str, ...]  # its addresses the switch accepts in the underlay


@dataclass(frozen=True)
class SwitchRecord:
    """A switch as declared (and completed from the pools)."""

    name: str
    role: str
    rack: str
    asn: int
    loopback: str
    sonic_version: str = ""
    paused: bool = False
    exits: tuple[ExitRecord, ...] = ()


@dataclass(frozen=True)
class PortRecord:
    """A registered port and the LLDP neighbour learned on it."""

    name: str
    neighbour_switch: str | None = None
    neighbour_port: str | None = None
    neighbour_machine: str | None = None
    admin_down: bool = False  # an operator set it down (`PATCH /v1/switches/NAME/ports/PORT`)


@dataclass(frozen=True)
class SwitchView:
    """Everything `build_switch_state` reads for one switch."""

    partition: PartitionRecord
    switch: SwitchRecord
    ports: tuple[PortRecord, ...] = ()
    machines: dict[str, MachineRecord] = field(default_factory=dict)
