"""The minimal FRR config a lab switch starts with, so `fabric lab up` shows a live underlay before
any switch daemon runs: BGP unnumbered on every switch-to-switch link, the loopback announced, EVPN
activated (leaves advertise their VNIs).  The switch daemon's rendered config replaces it later.

`ipv6 nd ra-interval 1` / `no ipv6 nd suppress-ra` on fabric links: an unnumbered peer that restarts
learns our link-local address from our next router advertisement; at FRR's default 10 s interval a
restart took 7-10 s to re-peer, at 1 s about 1 s (measured by the rig's author).
Pure: the text is FRR's own running-config form.
"""

from __future__ import annotations

from lab.addressing import SwitchIdentity
from lab.topology import Topology

FABRIC_ROLES = ("spine", "leaf")


def fabric_ports(topology: Topology, switch: str) -> list[str]:
    """The switch's ports towards other switches (its BGP unnumbered peers), in port order."""
    ports = [
        own.port
        for own, far in topology.links_of(switch)
        if topology.nodes[far.node].labels.role in FABRIC_ROLES
    ]
    return sorted(ports, key=lambda p: int(p.removeprefix("Ethernet")))


def underlay_config(topology: Topology, me: SwitchIdentity) -> str:
    """The integrated frr.conf of switch `me` (see module doc)."""
    ports = fabric_ports(topology, me.name)
    lines = ["frr defaults traditional", f"hostname {me.name}", "service integrated-vtysh-config", "!"]
    for port in ports:
        lines += [f"interface {port}", " ipv6 nd ra-interval 1", " no ipv6 nd suppress-ra", "exit", "!"]
    lines += ["interface lo", f" ip address {me.loopback}/32", "exit", "!"]
    lines += [
        f"router bgp {me.asn}",
        f" bgp router-id {me.router_id}",
        " no bgp ebgp-requires-policy",
        " neighbor fabric peer-group",
        " neighbor fabric remote-as external",
        " neighbor fabric timers 2 8",
        " neighbor fabric capability extended-nexthop",
    ]
    lines += [f" neighbor {port} interface peer-group fabric" for port in ports]
    lines += [" !", " address-family ipv4 unicast", f"  network {me.loopback}/32", " exit-address-family"]
    lines += [" !", " address-family l2vpn evpn", "  neighbor fabric activate"]
    if me.role == "leaf":
        lines.append("  advertise-all-vni")
    lines += [" exit-address-family", "exit", "!"]
    return "\n".join(lines) + "\n"
