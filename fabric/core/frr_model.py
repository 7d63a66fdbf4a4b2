"""What an frr.conf holds, as data: the builders decide every value and order, templates only format.

Orders follow what FRR 8.4 prints in `show running-config` (measured): `vrf` blocks by name, `router
bgp` instances in file order (default first), peer groups by name, interface neighbours grouped by peer
group then in natural port order, per address family `activate`, `maximum-prefix`, `route-map in`,
`route-map out`; all IPv4 prefix-lists before all IPv6 ones; prefix-lists and route-maps in file order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PrefixEntry:
    """`seq N permit|deny PREFIX [le N]`."""

    seq: int
    action: Literal["permit", "deny"]
    prefix: str
    le: int | None = None


@dataclass(frozen=True)
class PrefixList:
    """An `ip prefix-list` (family 4) or `ipv6 prefix-list` (family 6)."""

    name: str
    family: Literal[4, 6]
    entries: tuple[PrefixEntry, ...]


@dataclass(frozen=True)
class Match:
    """` match KIND VALUE`, e.g. kind `ip address prefix-list`, `evpn vni`, `interface`."""

    kind: str
    value: str


@dataclass(frozen=True)
class RouteMapEntry:
    """`route-map NAME permit|deny SEQ` with its matches and ` set ...` lines (e.g. `community
    no-export additive`), each in FRR's printed order."""

    action: Literal["permit", "deny"]
    seq: int
    matches: tuple[Match, ...] = ()
    sets: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteMap:
    """A named route-map."""

    name: str
    entries: tuple[RouteMapEntry, ...]


@dataclass(frozen=True)
class PeerGroup:
    """`neighbor NAME peer-group` with eBGP to any AS, fast timers and extended next hop."""

    name: str
    timers: tuple[int, int] | None = None
    extended_nexthop: bool = True


@dataclass(frozen=True)
class Neighbor:
    """An interface (BGP unnumbered) neighbour in a peer group."""

    interface: str
    peer_group: str


@dataclass(frozen=True)
class PeerAf:
    """Per address family settings of one peer group or neighbour."""

    name: str
    activate: bool = False
    allowas_in: int | None = None  # accept routes carrying our own ASN this many times
    maximum_prefix: int | None = None
    route_map_in: str | None = None
    route_map_out: str | None = None


@dataclass(frozen=True)
class AddressFamily:
    """`address-family ipv4 unicast|ipv6 unicast|l2vpn evpn`; `import_vrfs` / `import_route_map` are
    route leaking between VRFs (`import vrf NAME`, `import vrf route-map NAME`)."""

    name: str
    networks: tuple[str, ...] = ()
    redistribute_connected: str | None = None
    peers: tuple[PeerAf, ...] = ()
    advertise_all_vni: bool = False
    advertise: tuple[str, ...] = ()
    import_vrfs: tuple[str, ...] = ()
    import_route_map: str | None = None


@dataclass(frozen=True)
class Bgp:
    """One `router bgp ASN [vrf NAME]` instance."""

    asn: int
    router_id: str
    vrf: str | None = None
    peer_groups: tuple[PeerGroup, ...] = ()
    neighbors: tuple[Neighbor, ...] = ()
    address_families: tuple[AddressFamily, ...] = ()


@dataclass(frozen=True)
class VrfBlock:
    """`vrf NAME` with its L3VNI; `netns` only for FRR's netns VRF backend (the lab)."""

    name: str
    vni: int | None = None
    netns: str | None = None


@dataclass(frozen=True)
class FrrConfig:
    """A whole frr.conf."""

    hostname: str
    vrfs: tuple[VrfBlock, ...] = ()
    bgp: tuple[Bgp, ...] = ()
    prefix_lists: tuple[PrefixList, ...] = ()
    route_maps: tuple[RouteMap, ...] = ()
    fpm_address: str | None = None

    @property
    def ipv4_prefix_lists(self) -> tuple[PrefixList, ...]:
        return tuple(p for p in self.prefix_lists if p.family == 4)

    @property
    def ipv6_prefix_lists(self) -> tuple[PrefixList, ...]:
        return tuple(p for p in self.prefix_lists if p.family == 6)


@dataclass(frozen=True)
class FrrOptions:
    """Renderer options: the FRR release (capability table) and the VRF backend.

    `frr_version` is the release running on the device (the switch daemon reads it); without it the
    release that the document's `sonic_version` ships is assumed.  `netns_vrfs_always` (netns backend
    only) names VRF namespaces that exist whether or not a tenant uses them: zebra -n shows a `vrf X` /
    `netns DIR/X` block for each, so the rendering keeps one (bare when no tenant VRF uses it).
    """

    frr_version: str | None = None
    netns_vrfs: bool = False
    netns_dir: str = "/run/netns"
    netns_vrfs_always: tuple[str, ...] = ()

    def vrf_block(self, name: str, vni: int | None = None) -> VrfBlock:
        """`vrf NAME` / `vni N` (none: a bare block), naming its namespace under the netns backend."""
        return VrfBlock(name, vni, f"{self.netns_dir}/{name}" if self.netns_vrfs else None)
