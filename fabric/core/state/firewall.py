"""`build_firewall_state`: VRFs, route leaking and SNAT of a firewall from the networks it serves."""

from __future__ import annotations

import ipaddress
from typing import Literal

from fabric.core.state.machine import router_id
from fabric.core.state.records import MachineRecord, NetworkRecord, inside
from fabric.core.state.switch import host_prefix
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
        # The extra prefixes (pod CIDRs) too: a reply to translated pod traffic is routed in the
        # external VRF once conntrack has put the pod's address back, so it needs their routes.
        # What leaves untranslated (global IPv6; everything without `nat`) is announced there: the
        # external network (its exit router) must learn the way back to it.  So are the project's
        # load-balancer IPs of this network, wherever a machine announces them.
        balanced = _load_balanced(firewall, network)
        imports = [
            VrfImport(
                from_vrf=f"Vrf{p.vni}",
                prefixes=[*prefixes, *balanced],
                no_export=True,
                announced=[
                    *(n for n in prefixes if not (network.nat and _translated(ipaddress.ip_network(n)))),
                    *balanced,
                ],
            )
            for p in privates
            if (prefixes := _networks(p))
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


def _load_balanced(firewall: MachineRecord, external: NetworkRecord) -> list[str]:
    """Host prefixes of the project's IPs in `external` held by no machine (load-balancer IPs)."""
    return [host_prefix(ip) for ip in inside(firewall.project_ips, external)]


def _networks(network: NetworkRecord) -> list[str]:
    """A network's prefixes and extra prefixes (their network part: "10.244.0.0/16 le 24")."""
    return [*network.prefixes, *(x.split()[0] for x in network.extra_prefixes)]


def build_firewall_state(firewall: MachineRecord) -> FirewallState:
    """The desired state of an allocated firewall (unsealed).

    Private networks import the destination prefixes of every external network; external networks
    import the private prefixes and extra prefixes marked no-export, except those that leave it
    untranslated (`announced`: global IPv6, or all of them without `nat`), and the project's
    load-balancer IPs in the external network (announced: a machine holds each, and the exit router
    must route it in); an external network with `nat` translates the private IPv4 and unique local
    IPv6 prefixes (and extra prefixes) leaving through it, one rule per family it reaches, to the
    firewall's own addresses of that family in the network (its IPs inside the network's prefixes, the
    VRF's `addresses`), or masquerades them when it has none there.
    """
    if firewall.asn is None or firewall.role != "firewall":
        raise ValidationError(f"{firewall.name} is not allocated as a firewall", "machine")
    underlay = [n for n in firewall.networks if n.kind == "underlay"]
    if not underlay or not firewall.ips_in(underlay[0]):
        raise ValidationError(f"firewall {firewall.name} has no underlay address", "networks")
    address = router_id(MachineRecord(name=firewall.name, role=None, ips=tuple(firewall.ips_in(underlay[0]))))
    privates = [n for n in firewall.networks if n.kind == "private" and n.vni is not None]
    externals = [n for n in firewall.networks if n.kind == "external" and n.vni is not None]
    cluster = sorted({p for n in privates for p in _networks(n)})
    return FirewallState(
        firewall=Firewall(name=firewall.name, asn=firewall.asn, router_id=address, vtep=address),
        uplinks=sorted(firewall.nics),
        vrfs=[_vrf(firewall, n, privates, externals) for n in (*privates, *externals)],
        snat=[rule for e in externals if e.nat for rule in _snat(firewall, e, cluster)],
        cluster_prefixes=cluster,
    )


# Unique local addresses (RFC 4193) are not routed on the internet: like private IPv4 they leave
# translated.  Global IPv6 prefixes are routed as they are (translating them would only break
# end-to-end addressing).  kind's dual-stack pod default, fd00:10:244::/56, is one.
ULA = ipaddress.IPv6Network("fc00::/7")


def _translated(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return isinstance(network, ipaddress.IPv4Network) or network.subnet_of(ULA)


def _snat(firewall: MachineRecord, external: NetworkRecord, cluster: list[str]) -> list[Snat]:
    """One rule per family that has translated sources and that `external` reaches."""
    rules = []
    translated = [n for n in map(ipaddress.ip_network, cluster) if _translated(n)]
    reached = {ipaddress.ip_network(p).version for p in (*external.prefixes, *external.destination_prefixes)}
    for family in (4, 6):
        sources = [n for n in translated if n.version == family]
        if sources and family in reached:
            rules.append(
                Snat(vrf=f"Vrf{external.vni}", sources=sources, to=_snat_to(firewall, external, family))
            )
    return rules


def _snat_to(
    firewall: MachineRecord, external: NetworkRecord, family: int
) -> Literal["masquerade"] | list[IPAddress]:
    own = [ipaddress.ip_address(a) for a in firewall.ips_in(external)]
    return [a for a in own if a.version == family] or "masquerade"
