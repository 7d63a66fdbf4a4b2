"""Prefix filters: prefix-lists and route-maps of exactly what a neighbour may announce.

Naming scheme (derived from the port name, so a port's filters are found by name on the switch):

- `PL-<port>-IN-V4` / `PL-<port>-IN-V6`: the port's allowed prefixes per family;
- `RM-<port>-IN-V4` / `RM-<port>-IN-V6`: the inbound route-map applied to the port's neighbour; a
  family without allowed prefixes gets a route-map with a single `deny` entry (nothing accepted);
- `RM-<port>-EVPN-OUT`: EVPN routes passed to a firewall or an exit router, one `match evpn vni` entry
  per VNI; `RM-<port>-EVPN-IN`: EVPN routes accepted from an exit router, the same way;
- `PL-LOOPBACKS-V4/V6`, `RM-CONNECTED`: what a switch redistributes (its loopbacks and VTEP, never the
  management interface);
- `PL-ANNOUNCE-V4/V6`, `RM-ANNOUNCE-V4/V6`: what a machine announces to its leaves.

`maximum-prefix` of a machine port per family is the number of distinct prefixes its filter can pass
(an exact entry is 1, an entry with `le` is every more-specific up to `le`), capped at
`MAX_PREFIX_CAP`: a session that carries more than its filter can accept is broken or hostile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network

from fabric.core.frr_model import Match, PrefixEntry, PrefixList, RouteMap, RouteMapEntry
from fabric.model.prefixes import AllowedPrefix

MAX_PREFIX_CAP = 1024
SEQ_STEP = 10
FAMILY_SUFFIX = {4: "V4", 6: "V6"}
MATCH_KIND = {4: "ip address prefix-list", 6: "ipv6 address prefix-list"}


def prefix_list_name(owner: str, direction: str, family: int) -> str:
    """`PL-<owner>-<direction>-V4|V6`."""
    return f"PL-{owner}-{direction}-{FAMILY_SUFFIX[family]}"


def route_map_name(owner: str, direction: str, family: int | None = None) -> str:
    """`RM-<owner>-<direction>[-V4|V6]`."""
    return f"RM-{owner}-{direction}" + (f"-{FAMILY_SUFFIX[family]}" if family else "")


@lru_cache(maxsize=1 << 16)
def network_text(net: IPv4Network | IPv6Network) -> str:
    """`str(net)`, cached: the same prefixes are rendered on every sync and IPv6 formatting is slow."""
    return str(net)


def prefix_list(name: str, family: int, allowed: Iterable[AllowedPrefix]) -> PrefixList | None:
    """`allowed` entries of one family as a prefix-list with explicit sequence numbers; None if empty."""
    entries = tuple(
        PrefixEntry((i + 1) * SEQ_STEP, "permit", network_text(a.prefix), a.le)
        for i, a in enumerate(a for a in allowed if a.version == family)
    )
    return PrefixList(name, 4 if family == 4 else 6, entries) if entries else None


def filter_route_map(name: str, family: int, plist: PrefixList | None) -> RouteMap:
    """A route-map passing what `plist` permits, or denying everything when there is no list."""
    if plist is None:
        return RouteMap(name, (RouteMapEntry("deny", SEQ_STEP),))
    return RouteMap(name, (RouteMapEntry("permit", SEQ_STEP, (Match(MATCH_KIND[family], plist.name),)),))


def inbound_filter(
    owner: str, allowed: Sequence[AllowedPrefix], family: int
) -> tuple[PrefixList | None, RouteMap]:
    """The prefix-list and inbound route-map for one port and family."""
    plist = prefix_list(prefix_list_name(owner, "IN", family), family, allowed)
    return plist, filter_route_map(route_map_name(owner, "IN", family), family, plist)


def evpn_vni_route_map(owner: str, vnis: Sequence[int], direction: str = "OUT") -> RouteMap:
    """EVPN route-map (`direction` OUT or IN) passing only routes of `vnis`."""
    entries = tuple(
        RouteMapEntry("permit", (i + 1) * SEQ_STEP, (Match("evpn vni", str(vni)),))
        for i, vni in enumerate(vnis)
    )
    return RouteMap(route_map_name(owner, f"EVPN-{direction}"), entries)


def maximum_prefix(allowed: Sequence[AllowedPrefix], family: int) -> int | None:
    """How many prefixes of `family` the filter can pass (capped); None when it passes none."""
    total = 0
    for entry in allowed:
        if entry.version != family:
            continue
        span = 0 if entry.le is None else entry.le - entry.prefix.prefixlen
        total += min(2 ** (span + 1) - 1, MAX_PREFIX_CAP)
    return min(total, MAX_PREFIX_CAP) if total else None
