"""`build_firewall_state`: VRFs, route leaking and SNAT of a firewall from the networks it serves."""

from __future__ import annotations

import ipaddress
from typing import Literal

from fabric.core.state.machine import router_id
from fabric.core.state.records import MachineRecord, NetworkRecord
from fabric.errors import ValidationError
from fabric.model.firewall import Firewall, FirewallState, FirewallVrf, Snat, VrfImport
from fabric.model.prefixes import IPAddress


def _vrf(
    firewall: MachineRecord,
    network: NetworkRecord,
    privates: list[NetworkRecord],
    externals: list[NetworkRecord],
) -> FirewallVrf:
    if network.kind == "private":
        imports = [
            VrfImport(from_vrf=f"Vrf{e.vni}", prefixes=list(e.destination_prefixes))
            for e in externals
            if e.destination_prefixes
        ]
    else:
        imports = [
            VrfImport(from_vrf=f"Vrf{p.vni}", prefixes=list(p.prefixes), no_export=True)
            for p in privates
            if p.prefixes
        ]
    return FirewallVrf(
        name=f"Vrf{network.vni}",
        vni=network.vni or 0,
        kind="private" if network.kind == "private" else "external",
        prefixes=list(network.prefixes),
        destination_prefixes=list(network.destination_prefixes) if network.kind == "external" else [],
        imports=imports,
        addresses=firewall.ips_in(network) if network.kind == "external" else [],
    )


def build_firewall_state(firewall: MachineRecord) -> FirewallState:
    """The desired state of an allocated firewall (unsealed).

    Private networks import the destination prefixes of every external network; external networks
    import the private prefixes marked no-export; an external network with `nat` translates the
    private IPv4 prefixes (and their extra prefixes) leaving through it to the firewall's own IPv4
    addresses in that network (its IPs inside the network's prefixes, the VRF's `addresses`), or
    masquerades them when the firewall has none there.
    """
    if firewall.asn is None or firewall.role != "firewall":
        raise ValidationError(f"{firewall.name} is not allocated as a firewall", "machine")
    underlay = [n for n in firewall.networks if n.kind == "underlay"]
    if not underlay or not firewall.ips_in(underlay[0]):
        raise ValidationError(f"firewall {firewall.name} has no underlay address", "networks")
    address = router_id(MachineRecord(name=firewall.name, role=None, ips=tuple(firewall.ips_in(underlay[0]))))
    privates = [n for n in firewall.networks if n.kind == "private" and n.vni is not None]
    externals = [n for n in firewall.networks if n.kind == "external" and n.vni is not None]
    cluster = sorted({p for n in privates for p in (*n.prefixes, *(x.split()[0] for x in n.extra_prefixes))})
    snat = [
        Snat(vrf=f"Vrf{e.vni}", sources=[c for c in cluster if ":" not in c], to=_snat_to(firewall, e))
        for e in externals
        if e.nat and any(":" not in c for c in cluster)
    ]
    return FirewallState(
        firewall=Firewall(name=firewall.name, asn=firewall.asn, router_id=address, vtep=address),
        uplinks=sorted(firewall.nics),
        vrfs=[_vrf(firewall, n, privates, externals) for n in (*privates, *externals)],
        snat=snat,
        cluster_prefixes=cluster,
    )


def _snat_to(firewall: MachineRecord, external: NetworkRecord) -> Literal["masquerade"] | list[IPAddress]:
    own = [ipaddress.ip_address(a) for a in firewall.ips_in(external) if ":" not in a]
    return own or "masquerade"
