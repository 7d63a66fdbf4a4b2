"""`build_switch_frr(state, options)`: the FRR configuration of a leaf or a spine, as data.

Default VRF: BGP unnumbered to the uplinks (peer group `FABRIC`: eBGP, `timers 2 8`, extended next hop), the
loopbacks and VTEP redistributed (never the management interface), `l2vpn evpn` activated towards the uplinks;
on a leaf also `advertise-all-vni` and the firewalls (peer group `FIREWALL`) as EVPN peers, each with an
outbound route-map passing only its VNIs and an inbound filter accepting only its underlay addresses. Exit
routers (peer group `EXIT`, on a leaf or a spine) are peered the same way, and their inbound EVPN routes are
filtered to their VNIs too (`RM-<port>-EVPN-IN`): an exit router brings the external networks' routes (the
default routes) and nothing else. Per tenant VRF (leaf): `vrf VrfN` / `vni N` and `router bgp ASN vrf VrfN`
with the machine ports as interface peers in peer group `MACHINE`, each with its own inbound route-maps and
`maximum-prefix` per family, and `advertise ipv4 unicast` / `ipv6 unicast` into EVPN. Unprovisioned and unused
ports get no BGP. Under FRR's netns VRF backend (the lab) each `vrf` block names its namespace, and every
namespace of `FrrOptions.netns_vrfs_always` keeps a bare `vrf X` / `netns DIR/X` block while no tenant VRF
uses it (zebra -n shows one for each namespace it sees).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

from fabric.core.capabilities import capabilities, for_sonic
from fabric.core.frr_filters import (
    MATCH_KIND,
    SEQ_STEP,
    evpn_vni_route_map,
    inbound_filter,
    maximum_prefix,
    prefix_list,
)
from fabric.core.frr_model import (
    AddressFamily,
    Bgp,
    FrrConfig,
    FrrOptions,
    Match,
    Neighbor,
    PeerAf,
    PeerGroup,
    PrefixList,
    RouteMap,
    RouteMapEntry,
    VrfBlock,
)
from fabric.model.names import natural_key
from fabric.model.prefixes import AllowedPrefix
from fabric.model.switch import Port, SwitchState

TIMERS = (2, 8)
EVPN_ADVERTISE = ("ipv4 unicast", "ipv6 unicast")
"""What a tenant VRF announces into EVPN as type-5 routes (`advertise ...` under `l2vpn evpn`)."""
FABRIC, FIREWALL, EXIT, MACHINE = "FABRIC", "FIREWALL", "EXIT", "MACHINE"
CONNECTED = "RM-CONNECTED"
GROUPS = frozenset({FABRIC, FIREWALL, EXIT, MACHINE})


def build_switch_frr(state: SwitchState, options: FrrOptions, leaving: Sequence[str] = ()) -> FrrConfig:
    """The whole frr.conf of a switch as data (no text).

    `leaving` names VRFs on their way out (the withdraw config, `fabric.core.withdraw.leaving_vrfs`):
    each keeps a `vrf` block without its VNI and its `router bgp ... vrf` instance without peers.
    """
    lists: list[PrefixList] = []
    maps: list[RouteMap] = []
    _connected(state, lists, maps)
    vrfs = _vrf_blocks(state, options, leaving)
    bgp = [_default_bgp(state, lists, maps)]
    tenant = [v.name for v in state.vrfs]
    bgp.extend(_vrf_bgp(state, name, lists, maps) for name in [*tenant, *sorted(set(leaving) - set(tenant))])
    caps = capabilities(options.frr_version) if options.frr_version else for_sonic(state.switch.sonic_version)
    return FrrConfig(state.switch.name, vrfs, tuple(bgp), tuple(lists), tuple(maps), caps.fpm_address)


def _vrf_blocks(state: SwitchState, options: FrrOptions, leaving: Sequence[str]) -> tuple[VrfBlock, ...]:
    """The tenant VRFs, a bare block per leaving VRF and, under the netns backend, per always-present
    VRF namespace no tenant uses; by name, the order FRR prints them in."""
    blocks = {v.name: options.vrf_block(v.name, v.vni) for v in state.vrfs}
    bare = [*leaving, *(options.netns_vrfs_always if options.netns_vrfs else ())]
    for name in bare:
        blocks.setdefault(name, options.vrf_block(name))
    return tuple(blocks[name] for name in sorted(blocks))


def _connected(state: SwitchState, lists: list[PrefixList], maps: list[RouteMap]) -> None:
    """The loopbacks (and VTEP) as prefix-lists, and `RM-CONNECTED` denying the management port."""
    loops = state.switch.loopbacks
    nets: list[IPv4Network | IPv6Network] = [IPv4Network(f"{loops.ipv4}/32")]
    if state.switch.vtep is not None and state.switch.vtep != loops.ipv4:
        nets.append(IPv4Network(f"{state.switch.vtep}/32"))
    if loops.ipv6 is not None:
        nets.append(IPv6Network(f"{loops.ipv6}/128"))
    allowed = [AllowedPrefix(prefix=n) for n in nets]
    entries = [RouteMapEntry("deny", SEQ_STEP, (Match("interface", state.switch.mgmt.interface),))]
    for family in (4, 6):
        plist = prefix_list(f"PL-LOOPBACKS-V{family}", family, allowed)
        if plist is not None:
            lists.append(plist)
            seq = (len(entries) + 1) * SEQ_STEP
            entries.append(RouteMapEntry("permit", seq, (Match(MATCH_KIND[family], plist.name),)))
    maps.append(RouteMap(CONNECTED, tuple(entries)))


def _default_bgp(state: SwitchState, lists: list[PrefixList], maps: list[RouteMap]) -> Bgp:
    ipv6 = state.switch.loopbacks.ipv6 is not None
    groups = [PeerGroup(FABRIC, TIMERS)]
    neighbors = [Neighbor(p, FABRIC) for p in state.uplinks]
    afs = _Afs([PeerAf(FABRIC)], [PeerAf(FABRIC, activate=True)], [PeerAf(FABRIC, activate=True)], ipv6)
    firewalls = [EvpnPeer(f.port, f.vnis, f.allow) for f in state.firewalls]
    exits = [EvpnPeer(e.port, e.vnis, e.allow) for e in state.exits]
    # A firewall re-originates into a tenant's VNI what it learned through this leaf in another VNI
    # (its `import vrf` leaking: the internet's default routes), with this leaf's ASN in the path:
    # accepted once (allowas-in 1).  An exit router's EVPN routes are filtered to its VNIs.
    if firewalls:
        groups.append(PeerGroup(FIREWALL, TIMERS))
        neighbors += [Neighbor(p.port, FIREWALL) for p in firewalls]
        _evpn_peers(FIREWALL, firewalls, afs, lists, maps, filter_evpn_in=False, allowas_in=1)
    if exits:
        groups.append(PeerGroup(EXIT, TIMERS))
        neighbors += [Neighbor(p.port, EXIT) for p in exits]
        _evpn_peers(EXIT, exits, afs, lists, maps, filter_evpn_in=True, allowas_in=None)
    families = [AddressFamily("ipv4 unicast", redistribute_connected=CONNECTED, peers=_ordered(afs.v4))]
    if ipv6:
        families.append(
            AddressFamily("ipv6 unicast", redistribute_connected=CONNECTED, peers=_ordered(afs.v6))
        )
    families.append(AddressFamily("l2vpn evpn", peers=_ordered(afs.evpn), advertise_all_vni=state.is_leaf))
    return Bgp(
        state.switch.asn,
        str(state.switch.router_id),
        None,
        tuple(sorted(groups, key=lambda g: g.name)),
        _neighbors(neighbors),
        tuple(families),
    )


@dataclass(frozen=True)
class EvpnPeer:
    """A firewall or an exit router on `port`: EVPN routes of `vnis`, underlay addresses `allow`."""

    port: str
    vnis: Sequence[int]
    allow: Sequence[AllowedPrefix]


@dataclass
class _Afs:
    """The default VRF's per-family peer settings while they are collected."""

    v4: list[PeerAf]
    v6: list[PeerAf]
    evpn: list[PeerAf]
    ipv6: bool  # the default VRF has an IPv6 unicast family (an IPv6 loopback)


def _evpn_peers(
    group: str,
    peers: list[EvpnPeer],
    afs: _Afs,
    lists: list[PrefixList],
    maps: list[RouteMap],
    *,
    filter_evpn_in: bool,
    allowas_in: int | None,
) -> None:
    """Peer group `group` of `peers`: underlay routes accepted only from their `allow` list, EVPN routes
    passed to them only of their VNIs (and, with `filter_evpn_in`, accepted from them only of those)."""
    peers = sorted(peers, key=lambda p: natural_key(p.port))
    afs.evpn.append(PeerAf(group, activate=True, allowas_in=allowas_in))
    v6 = afs.ipv6 and any(a.version == 6 for p in peers for a in p.allow)
    if v6:
        afs.v6.append(PeerAf(group, activate=True))
    for peer in peers:
        afs.v4.append(PeerAf(peer.port, route_map_in=_filter(peer.port, list(peer.allow), 4, lists, maps)))
        if v6:
            afs.v6.append(
                PeerAf(peer.port, route_map_in=_filter(peer.port, list(peer.allow), 6, lists, maps))
            )
        out = evpn_vni_route_map(peer.port, peer.vnis)
        maps.append(out)
        route_map_in = None
        if filter_evpn_in:
            inbound = evpn_vni_route_map(peer.port, peer.vnis, "IN")
            maps.append(inbound)
            route_map_in = inbound.name
        afs.evpn.append(PeerAf(peer.port, route_map_in=route_map_in, route_map_out=out.name))


def _vrf_bgp(state: SwitchState, vrf: str, lists: list[PrefixList], maps: list[RouteMap]) -> Bgp:
    ports = [p for p in state.ports_with_role("machine") if p.vrf == vrf]
    groups = (PeerGroup(MACHINE, TIMERS),) if ports else ()
    v4, v6 = [PeerAf(MACHINE)], [PeerAf(MACHINE, activate=True)]
    for port in ports:
        v4.append(_machine_af(port, 4, lists, maps))
        v6.append(_machine_af(port, 6, lists, maps))
    afs = []
    if ports:
        afs = [
            AddressFamily("ipv4 unicast", peers=_ordered(v4)),
            AddressFamily("ipv6 unicast", peers=_ordered(v6)),
        ]
    afs.append(AddressFamily("l2vpn evpn", advertise=EVPN_ADVERTISE))
    neighbors = _neighbors([Neighbor(p.name, MACHINE) for p in ports])
    return Bgp(state.switch.asn, str(state.switch.router_id), vrf, groups, neighbors, tuple(afs))


def _machine_af(port: Port, family: int, lists: list[PrefixList], maps: list[RouteMap]) -> PeerAf:
    route_map = _filter(port.name, port.allow, family, lists, maps)
    return PeerAf(port.name, maximum_prefix=maximum_prefix(port.allow, family), route_map_in=route_map)


def _filter(
    owner: str, allowed: list[AllowedPrefix], family: int, lists: list[PrefixList], maps: list[RouteMap]
) -> str:
    plist, route_map = inbound_filter(owner, allowed, family)
    if plist is not None:
        lists.append(plist)
    maps.append(route_map)
    return route_map.name


def _neighbors(neighbors: list[Neighbor]) -> tuple[Neighbor, ...]:
    # FRR prints interface neighbours grouped by peer group, each group in natural port order.
    return tuple(sorted(neighbors, key=lambda n: (n.peer_group, natural_key(n.interface))))


def _ordered(peers: list[PeerAf]) -> tuple[PeerAf, ...]:
    """Peer groups (by name) before neighbours, and only entries that carry a line."""
    groups = sorted((p for p in peers if p.name in GROUPS), key=lambda p: p.name)
    members = [p for p in peers if p.name not in GROUPS]
    return tuple(
        p
        for p in [*groups, *members]
        if p.activate or p.allowas_in or p.maximum_prefix or p.route_map_in or p.route_map_out
    )
