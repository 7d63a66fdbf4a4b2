"""`build_switch_state`: one switch's document from its ports and the machines cabled to them."""

from __future__ import annotations

import functools
import ipaddress

from fabric.core.state.records import ExitRecord, MachineRecord, PortRecord, SwitchView
from fabric.model.switch import (
    ExitPort,
    FirewallPort,
    Loopbacks,
    Mgmt,
    Port,
    Switch,
    SwitchState,
    VlanRange,
    VniRange,
    Vrf,
)


def host_prefix(address: str) -> str:
    """`10.0.0.5` → `10.0.0.5/32`, `2001:db8::5` → `2001:db8::5/128`."""
    ip = ipaddress.ip_address(address)
    return f"{ip}/{ip.max_prefixlen}"


def machine_allow(machine: MachineRecord) -> list[str]:
    """What the machine may announce: its own addresses, its project's announcable external
    addresses (e.g. load-balancer IPs) and the extra prefixes of its network (e.g. pod CIDRs)."""
    private = machine.private
    extra = list(private.extra_prefixes) if private else []
    return [host_prefix(ip) for ip in (*machine.ips, *machine.project_ips)] + extra


PORT_CACHE = 4096  # machine ports remembered (64 leaves of 64; an entry is a few kB)
Built = tuple[Port, Vrf | None, FirewallPort | None]


def exit_port(port: str, exit_router: ExitRecord) -> tuple[Port, ExitPort | None]:
    """The port carrying a declared exit router, and its peering (none while its networks have no
    VNI left: the port then stays unused, down)."""
    if not exit_router.vnis:
        return Port(name=port, role="unused", admin="down", description=exit_router.name), None
    allow = [host_prefix(ip) for ip in exit_router.underlay]
    peer = ExitPort(port=port, vnis=list(exit_router.vnis), allow=allow)
    return Port(name=port, role="exit", description=exit_router.name), peer


def _port(port: PortRecord, view: SwitchView) -> Built:
    if port.neighbour_switch is not None:
        return Port(name=port.name, role="uplink", description=port.neighbour_switch), None, None
    if view.switch.role == "spine":
        return Port(name=port.name, role="unused", admin="down"), None, None
    machine = view.machines.get(port.neighbour_machine or "")
    if machine is None or machine.role is None:
        return Port(name=port.name, role="unprovisioned"), None, None
    return machine_port(port.name, machine)


@functools.lru_cache(maxsize=PORT_CACHE)
def machine_port(name: str, machine: MachineRecord) -> Built:
    """The leaf port `name` carrying the allocated `machine` (or firewall), its VRF or firewall entry.

    A pure function of frozen records, memoised: a leaf's document is rebuilt whole on every change,
    and validating the allow lists of its other 63 machines again is most of that work.  The models
    are frozen, so sharing them between documents is safe; equal records give the same models."""
    if machine.role == "firewall":
        vnis = sorted(n.vni for n in machine.networks if n.vni is not None)
        underlay = [ip for n in machine.networks if n.kind == "underlay" for ip in machine.ips_in(n)]
        if not vnis or not underlay:
            return Port(name=name, role="unprovisioned"), None, None
        fw = FirewallPort(port=name, vnis=vnis, allow=[host_prefix(ip) for ip in underlay])
        return Port(name=name, role="firewall", description=machine.name), None, fw
    private = machine.private
    if private is None or private.vni is None:
        return Port(name=name, role="unprovisioned"), None, None
    vrf = Vrf(name=f"Vrf{private.vni}", vni=private.vni)
    allow = machine_allow(machine)
    return (
        Port(name=name, role="machine", vrf=vrf.name, description=machine.name, allow=allow),
        vrf,
        None,
    )


def build_switch_state(view: SwitchView) -> SwitchState:
    """The desired state of `view.switch` (unsealed)."""
    sw, part = view.switch, view.partition
    leaf = sw.role == "leaf"
    ports, vrfs, firewalls, exits = [], {}, [], []
    declared = {e.port: e for e in sw.exits}
    for record in view.ports:
        exit_router = declared.get(record.name)
        if exit_router is not None:  # declared by the operator: it runs no daemon of ours to learn it from
            (port, peer), vrf, fw = exit_port(record.name, exit_router), None, None
        else:
            (port, vrf, fw), peer = _port(record, view), None
        if record.admin_down:  # the operator's word wins over what the port is for
            port = port.model_copy(update={"admin": "down"})
        ports.append(port)
        if vrf is not None:
            vrfs[vrf.vni] = vrf
        if fw is not None:
            firewalls.append(fw)
        if peer is not None:
            exits.append(peer)
    loopback = ipaddress.IPv4Address(sw.loopback)
    gateway = ipaddress.IPv4Address(part.mgmt_gateway) if part.mgmt_gateway else None
    return SwitchState(
        switch=Switch(
            name=sw.name,
            role="leaf" if leaf else "spine",
            asn=sw.asn,
            router_id=loopback,
            loopbacks=Loopbacks(ipv4=loopback),
            vtep=loopback if leaf else None,
            mgmt=Mgmt(gateway=gateway),
            sonic_version=sw.sonic_version,
        ),
        uplinks=[p.name for p in ports if p.role == "uplink"],
        pxe_vlan=part.pxe_vlan if leaf else None,
        vlan_range=VlanRange(first=part.vlan_first, last=part.vlan_last) if leaf else None,
        vni_range=VniRange(first=part.vni_first, last=part.vni_last) if leaf else None,
        ports=ports,
        vrfs=list(vrfs.values()),
        firewalls=firewalls,
        exits=exits,
        dhcp_relay=[ipaddress.IPv4Address(a) for a in part.dhcp_relay] if leaf else [],
        paused=sw.paused,
    )
