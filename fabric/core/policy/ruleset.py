"""`CompiledPolicy` (+ `FirewallState`) → `Ruleset`: the nftables table as data, ready to format.

Per-packet cost does not grow with services or policies: each direction and family is one lookup in
one concatenated interval set `local . l4proto . dport . remote`, whose elements are made disjoint
(nftables refuses overlapping ones) and carry the objects they came from as comments.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from fabric.core.policy.disjoint import Box, disjoint
from fabric.core.policy.ir import (
    DIRECTIONS,
    FAMILIES,
    CompiledPolicy,
    Direction,
    Family,
    Isolation,
    Range,
    family_max,
    origin_label,
)
from fabric.model.firewall import FirewallState

TABLE = "fabric"
COMMENT_MAX = 120  # nftables stores at most 128 bytes
ADDRESS_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}


@dataclass(frozen=True)
class NftSet:
    """A named set; `elements` are (key, comment) pairs in canonical order."""

    name: str
    type: str
    interval: bool
    comment: str
    elements: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SnatRule:
    """Sources of one family leaving towards `destinations` are translated (`to` empty: masquerade)."""

    family: Family
    sources: str
    destinations: str
    to: tuple[str, ...]
    comment: str


@dataclass(frozen=True)
class Ruleset:
    """The whole `table inet fabric`: sets (the data) and the few fixed rules around them."""

    isolation: Isolation
    sets: tuple[NftSet, ...]
    snat: tuple[SnatRule, ...] = ()
    uplinks: tuple[str, ...] = ()
    table: str = TABLE
    families: tuple[Family, ...] = FAMILIES

    def set(self, name: str) -> NftSet:
        """The set called `name`."""
        return next(s for s in self.sets if s.name == name)

    @property
    def elements(self) -> int:
        """How many set elements the table holds."""
        return sum(len(s.elements) for s in self.sets)

    def skeleton(self) -> Ruleset:
        """The same table without elements: equal skeletons mean an element-only update suffices."""
        return Ruleset(
            self.isolation,
            tuple(NftSet(s.name, s.type, s.interval, s.comment) for s in self.sets),
            self.snat,
            self.uplinks,
            self.table,
        )


@dataclass
class _Sets:
    items: list[NftSet] = field(default_factory=list)

    def add(
        self, name: str, type_: str, interval: bool, comment: str, elements: Iterable[tuple[str, str]]
    ) -> None:
        self.items.append(NftSet(name, type_, interval, comment, tuple(elements)))


def build_ruleset(compiled: CompiledPolicy, state: FirewallState | None = None) -> Ruleset:
    """The table for `compiled`; SNAT and the firewall's own input protection come from `state`."""
    sets = _Sets()
    for family in FAMILIES:
        addr = ADDRESS_TYPE[family]
        sets.add(f"cluster{family}", addr, True, "the cluster side", _plain(family, compiled.cluster[family]))
        for direction in DIRECTIONS:
            key = f"{addr} . inet_proto . inet_service . {addr}"
            sets.add(
                f"allow_{direction[:2]}{family}",
                key,
                True,
                f"{direction} allows",
                _allow_elements(compiled, direction, family),
            )
        if compiled.isolation == "kubernetes":
            sets.add(
                f"guard_in{family}",
                f"{addr} . inet_proto . inet_service",
                True,
                "load-balancer ports open to their source ranges only",
                _guard_elements(compiled, family),
            )
            for direction in DIRECTIONS:
                isolated = compiled.isolated.get((direction, family), {})
                sets.add(
                    f"isolated_{direction[:2]}{family}",
                    addr,
                    False,
                    f"pods isolated for {direction}",
                    ((_address(family, a), _comment(o)) for a, o in sorted(isolated.items())),
                )
    snat, snat_sets = _snat(state)
    uplinks = tuple(state.uplinks) if state is not None else ()
    return Ruleset(compiled.isolation, tuple(sets.items + snat_sets), snat, uplinks)


def _allow_elements(compiled: CompiledPolicy, direction: Direction, family: Family) -> list[tuple[str, str]]:
    # Boxes never overlap across local addresses: split per address first (most have one box).
    by_local: dict[int, list[tuple[Box, str]]] = defaultdict(list)
    for a in compiled.allows:
        if a.direction == direction and a.family == family:
            by_local[a.local].append((((a.local, a.local), a.protocols, a.ports, a.remote), a.origin))
    out: list[tuple[str, str]] = []
    for local in sorted(by_local):
        prefix = _address(family, local)
        for box, origins in disjoint(by_local[local]):
            key = (prefix, _number(box[1]), _number(box[2]), _span(family, box[3]))
            out.append((" . ".join(key), _comment(origins)))
    return out


def _guard_elements(compiled: CompiledPolicy, family: Family) -> list[tuple[str, str]]:
    boxes: list[tuple[Box, str]] = [
        (((g.local, g.local), g.protocols, g.ports), g.origin) for g in compiled.guards if g.family == family
    ]
    return [
        (" . ".join((_span(family, box[0]), _number(box[1]), _number(box[2]))), _comment(o))
        for box, o in disjoint(boxes)
    ]


def _plain(family: Family, ranges: Iterable[Range]) -> list[tuple[str, str]]:
    """Ranges merged where they touch (a plain interval set refuses overlaps too)."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(_span(family, (lo, hi)), "") for lo, hi in merged]


def _address(family: Family, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


def _span(family: Family, rng: Range) -> str:
    """An address range as nft writes it: one address, a CIDR when aligned, else `low-high`."""
    lo, hi = rng
    if lo == hi:
        return _address(family, lo)
    size = hi - lo + 1
    if size & (size - 1) == 0 and lo % size == 0:
        bits = family_max(family).bit_length() - (size.bit_length() - 1)
        return f"{_address(family, lo)}/{bits}"
    return f"{_address(family, lo)}-{_address(family, hi)}"


def _number(rng: Range) -> str:
    return str(rng[0]) if rng[0] == rng[1] else f"{rng[0]}-{rng[1]}"


def _comment(origins: Iterable[str]) -> str:
    """`ns/name (Kind)` of the first origin, and how many more share the element."""
    ordered = sorted(set(origins))
    text = origin_label(ordered[0]) + (f" +{len(ordered) - 1}" if len(ordered) > 1 else "")
    return text[:COMMENT_MAX]


def _snat(state: FirewallState | None) -> tuple[tuple[SnatRule, ...], list[NftSet]]:
    if state is None:
        return (), []
    rules: list[SnatRule] = []
    sets: list[NftSet] = []
    for rule in state.snat:
        vrf = state.vrf(rule.vrf)
        assert vrf is not None  # FirewallState validation guarantees it
        targets = [] if rule.to == "masquerade" else list(rule.to)
        for family in FAMILIES:
            sources = [n for n in rule.sources if n.version == family]
            to = tuple(str(a) for a in targets if a.version == family)
            if not sources or (targets and not to):
                continue  # nothing of this family to translate, or no address of it to translate to
            reach = [n for n in (*vrf.destination_prefixes, *vrf.prefixes) if n.version == family]
            src_name, dst_name = f"snat_src{family}_{rule.vrf}", f"snat_dst{family}_{rule.vrf}"
            sets.append(
                NftSet(
                    src_name,
                    ADDRESS_TYPE[family],
                    True,
                    f"{rule.vrf} SNAT sources",
                    tuple(
                        _plain(family, [(int(n.network_address), int(n.broadcast_address)) for n in sources])
                    ),
                )
            )
            sets.append(
                NftSet(
                    dst_name,
                    ADDRESS_TYPE[family],
                    True,
                    f"reachable through {rule.vrf}",
                    tuple(
                        _plain(family, [(int(n.network_address), int(n.broadcast_address)) for n in reach])
                    ),
                )
            )
            rules.append(SnatRule(family, src_name, dst_name, to, f"{state.firewall.name}/{rule.vrf} SNAT"))
    return tuple(rules), sets
