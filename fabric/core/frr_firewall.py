"""`build_firewall_frr(state, options)`: the FRR configuration of a firewall, as data.

Default VRF (the underlay): eBGP unnumbered to both leaves (peer group `TOR` over the uplinks, as on a
machine), the firewall's underlay address(es) (`router_id`, `vtep`) announced as `network` statements
and nothing else (`RM-ANNOUNCE-V4` from `PL-ANNOUNCE-V4`, the machine's names), `l2vpn evpn` activated
towards the leaves, and `advertise-all-vni` as soon as there is a VRF: zebra tells bgpd about local
VNIs, L3VNIs included, only when EVPN is enabled that way.

Per attached network: `vrf NAME` / `vni N` and `router bgp ASN vrf NAME` advertising its IPv4 and IPv6
routes as EVPN type-5 routes (`advertise ipv4 unicast` / `ipv6 unicast`), and the routes it imports from
other VRFs (route leaking), per address family:

    import vrf route-map RM-<vrf>-IMPORT-V4|V6
    import vrf <from>                       (one line per source VRF, in name order)

`RM-<vrf>-IMPORT-V4|V6` holds one `permit` entry per source VRF (`match source-vrf <from>` and the
prefix-list `PL-<vrf>-IMPORT-<from>-V4|V6` of the import's prefixes); an import with `no_export` also sets
`community no-export additive`, so private prefixes leaked into an external VRF never leave the firewall's
neighbours; its `announced` prefixes (routed as they are, e.g. a tenant's global IPv6 prefix) come first
in an entry of their own without it (`PL-<vrf>-IMPORT-<from>-ANNOUNCED-V4|V6`), so the external network,
the exit router, learns the way back to them. What the route-map does not permit is not leaked (a
route-map's implicit deny). A family without any import prefix gets no `import vrf` lines at all. The
firewall's own addresses in an external VRF (`addresses`, the `to` of its SNAT) are `network A/32|128`
statements of that family, so the leaves learn them as EVPN type-5 routes and return traffic reaches the
firewall; the plumbing puts them on the VRF device, which gives BGP the connected route its import check
wants.

Prefix-list semantics of an import: from a *private* VRF (its machines' /32, /128 and pod routes) a
prefix matches itself and every more-specific (`le 32` / `le 128`); from an *external* VRF (what the
external network offers, e.g. the default route) it matches exactly, so importing `0.0.0.0/0` never
pulls in a whole internet table.

FRR's netns VRF backend cannot leak routes between VRFs: a firewall with imports refuses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network

from fabric.core.frr_filters import (
    MATCH_KIND,
    SEQ_STEP,
    filter_route_map,
    prefix_list,
    prefix_list_name,
    route_map_name,
)
from fabric.core.frr_machine import TOR
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
)
from fabric.core.frr_switch import EVPN_ADVERTISE, TIMERS
from fabric.errors import ValidationError
from fabric.model.firewall import FirewallState, FirewallVrf, VrfImport
from fabric.model.names import natural_key
from fabric.model.prefixes import AllowedPrefix, IPNetwork

NO_EXPORT = "community no-export additive"
"""The ` set` line of an import marked `no_export` (FRR's printed form)."""
AF_NAMES = {4: "ipv4 unicast", 6: "ipv6 unicast"}


def import_prefix_list_name(vrf: str, from_vrf: str, family: int) -> str:
    """`PL-<vrf>-IMPORT-<from>-V4|V6`: what `vrf` takes from `from_vrf`."""
    return prefix_list_name(vrf, f"IMPORT-{from_vrf}", family)


def import_route_map_name(vrf: str, family: int) -> str:
    """`RM-<vrf>-IMPORT-V4|V6`: the `import vrf route-map` of `vrf`."""
    return route_map_name(vrf, "IMPORT", family)


def build_firewall_frr(state: FirewallState, options: FrrOptions) -> FrrConfig:
    """The whole frr.conf of a firewall as data (no text).

    Raises `ValidationError` when `options` asks for FRR's netns VRF backend and a VRF imports routes.
    """
    if options.netns_vrfs:
        leaking = [v.name for v in state.vrfs if v.imports]
        if leaking:
            raise ValidationError(
                "FRR's netns VRF backend cannot leak routes between VRFs; render for kernel VRFs",
                f"vrfs[{leaking[0]}].imports",
            )
    lists: list[PrefixList] = []
    maps: list[RouteMap] = []
    vrfs = tuple(options.vrf_block(v.name, v.vni) for v in sorted(state.vrfs, key=lambda v: v.name))
    bgp = [_default_bgp(state, lists, maps)]
    bgp.extend(_vrf_bgp(state, vrf, lists, maps) for vrf in state.vrfs)
    bgp[1:] = instance_order(bgp[1:])
    return FrrConfig(state.firewall.name, vrfs, tuple(bgp), tuple(lists), tuple(maps))


def instance_order(instances: list[Bgp]) -> list[Bgp]:
    """VRF instances in the order FRR prints them: the order in which it first meets each VRF.

    bgpd creates a VRF's instance at its own `router bgp ASN vrf X` block or, earlier, at the first
    `import vrf X` naming it (measured on 8.4), and prints instances in creation order.  Emitting each
    block as soon as it is the first mentioned one not yet emitted (starting from the first given, and
    taking the next given one when nothing mentioned is pending) makes the file's order the order FRR
    creates them in, hence a fixed point: loading the file prints the file.
    """
    by_name = {b.vrf: b for b in instances}
    mentioned: list[str | None] = []
    seen: set[str | None] = set()

    def mention(name: str | None) -> None:
        if name not in seen:
            seen.add(name)
            mentioned.append(name)

    emitted = 0
    for start in instances:
        mention(start.vrf)
        while emitted < len(mentioned):  # emit in mention order; emitting mentions more
            for af in by_name[mentioned[emitted]].address_families:
                for name in af.import_vrfs:
                    mention(name)
            emitted += 1
    return [by_name[name] for name in mentioned]


def underlay_networks(state: FirewallState) -> list[IPv4Network]:
    """The /32s the firewall announces in the underlay: its router id and VTEP (once if equal)."""
    addresses = sorted({state.firewall.router_id, state.firewall.vtep})
    return [IPv4Network(f"{a}/32") for a in addresses]


def _default_bgp(state: FirewallState, lists: list[PrefixList], maps: list[RouteMap]) -> Bgp:
    nets = underlay_networks(state)
    plist = prefix_list("PL-ANNOUNCE-V4", 4, [AllowedPrefix(prefix=n) for n in nets])
    if plist is not None:
        lists.append(plist)
    announce = filter_route_map("RM-ANNOUNCE-V4", 4, plist)
    maps.append(announce)
    afs = (
        AddressFamily(
            "ipv4 unicast",
            networks=tuple(str(n) for n in nets),
            peers=(PeerAf(TOR, route_map_out=announce.name),),
        ),
        AddressFamily("l2vpn evpn", peers=(PeerAf(TOR, activate=True),), advertise_all_vni=bool(state.vrfs)),
    )
    return Bgp(
        state.firewall.asn,
        str(state.firewall.router_id),
        None,
        (PeerGroup(TOR, TIMERS),),
        tuple(Neighbor(nic, TOR) for nic in sorted(state.uplinks, key=natural_key)),
        afs,
    )


def _vrf_bgp(state: FirewallState, vrf: FirewallVrf, lists: list[PrefixList], maps: list[RouteMap]) -> Bgp:
    afs = []
    for family in (4, 6):
        own = tuple(f"{a}/{a.max_prefixlen}" for a in vrf.addresses if a.version == family)
        leak = _import_filter(state, vrf, family)
        if leak is None:
            if own:
                afs.append(AddressFamily(AF_NAMES[family], networks=own))
            continue
        plists, route_map, sources = leak
        lists.extend(plists)
        maps.append(route_map)
        afs.append(
            AddressFamily(
                AF_NAMES[family], networks=own, import_vrfs=sources, import_route_map=route_map.name
            )
        )
    afs.append(AddressFamily("l2vpn evpn", advertise=EVPN_ADVERTISE))
    return Bgp(state.firewall.asn, str(state.firewall.router_id), vrf.name, (), (), tuple(afs))


def _import_filter(
    state: FirewallState, vrf: FirewallVrf, family: int
) -> tuple[list[PrefixList], RouteMap, tuple[str, ...]] | None:
    """Prefix-lists, the import route-map and the source VRFs of `vrf` in `family`; None if none."""
    plists: list[PrefixList] = []
    entries: list[RouteMapEntry] = []
    for imp in vrf.imports:  # sorted by source VRF name in the model
        announced = [n for n in imp.announced if n.version == family] if imp.no_export else []
        if announced:  # first: a route-map's first matching entry decides
            name = import_prefix_list_name(vrf.name, f"{imp.from_vrf}-ANNOUNCED", family)
            plist = prefix_list(name, family, _allowed(state, imp, announced))
            assert plist is not None  # `announced` is not empty
            plists.append(plist)
            matches = (Match(MATCH_KIND[family], plist.name), Match("source-vrf", imp.from_vrf))
            entries.append(RouteMapEntry("permit", (len(entries) + 1) * SEQ_STEP, matches))
        plist = prefix_list(
            import_prefix_list_name(vrf.name, imp.from_vrf, family),
            family,
            _allowed(state, imp, imp.prefixes),
        )
        if plist is None:
            continue
        plists.append(plist)
        matches = (Match(MATCH_KIND[family], plist.name), Match("source-vrf", imp.from_vrf))
        sets = (NO_EXPORT,) if imp.no_export else ()
        entries.append(RouteMapEntry("permit", (len(entries) + 1) * SEQ_STEP, matches, sets))
    if not entries:
        return None
    sources = tuple(dict.fromkeys(m.value for e in entries for m in e.matches if m.kind == "source-vrf"))
    return plists, RouteMap(import_route_map_name(vrf.name, family), tuple(entries)), sources


def _allowed(state: FirewallState, imp: VrfImport, prefixes: Sequence[IPNetwork]) -> list[AllowedPrefix]:
    """`prefixes` of the import as filter entries: with their more-specifics when the source is private."""
    source = state.vrf(imp.from_vrf)
    wide = source is not None and source.kind == "private"
    out = []
    for net in prefixes:
        le = net.max_prefixlen if wide and net.prefixlen < net.max_prefixlen else None
        out.append(AllowedPrefix(prefix=net, le=le))
    return out
