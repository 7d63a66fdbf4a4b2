"""Set elements as nft writes them: allows and guards grouped by local address, made disjoint, formatted.

Allows of different local addresses never overlap (the local address is the first key field and a
single address), so each local address is one group, made disjoint on its own.  Groups are small and
their shapes repeat (10,000 services open on 80 and 443 have one shape), so a single-origin group's
elements are memoised by shape: the result is the one `disjoint` gives, computed once per shape.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable, Sequence

from fabric.core.policy.disjoint import Box, disjoint
from fabric.core.policy.ir import Allow, Family, Guard, Range, family_max, origin_label

COMMENT_MAX = 120  # nftables stores at most 128 bytes
Element = tuple[str, str]
"""(key, comment): one set element."""


def allow_group(family: Family, local: int, allows: Sequence[Allow]) -> list[Element]:
    """The elements of every allow of one direction whose local address is `local`."""
    prefix = address(family, local)
    origins = {a.origin for a in allows}
    if len(origins) == 1:
        comment = comment_of(frozenset(origins))
        shape = frozenset((a.protocols, a.ports, a.remote) for a in allows)
        return [(f"{prefix} . {suffix}", comment) for suffix in _single_origin(family, shape)]
    boxes: list[tuple[Box, str]] = [((a.protocols, a.ports, a.remote), a.origin) for a in allows]
    return [
        (f"{prefix} . {_number(b[0])} . {_number(b[1])} . {span(family, b[2])}", comment_of(o))
        for b, o in disjoint(boxes)
    ]


@functools.lru_cache(maxsize=65536)
def _single_origin(family: Family, shape: frozenset[tuple[Range, Range, Range]]) -> tuple[str, ...]:
    pieces = disjoint([(box, "") for box in sorted(shape)])
    return tuple(f"{_number(b[0])} . {_number(b[1])} . {span(family, b[2])}" for b, _ in pieces)


def guard_group(guards: Sequence[Guard]) -> Pieces:
    """Disjoint (protocols, ports) pieces of the guards of one local address, with their origins."""
    return disjoint([((g.protocols, g.ports), g.origin) for g in guards])


Pieces = list[tuple[Box, frozenset[str]]]


def guard_elements(family: Family, groups: Iterable[tuple[int, Pieces]]) -> list[Element]:
    """Guard elements from per-address groups in address order: runs of consecutive addresses with equal
    pieces become one address range, exactly as `disjoint` over all guards would merge them."""
    runs: list[tuple[int, int, Pieces]] = []
    for local, pieces in groups:
        if runs and runs[-1][1] + 1 == local and runs[-1][2] == pieces:
            runs[-1] = (runs[-1][0], local, pieces)
        else:
            runs.append((local, local, pieces))
    return [
        (f"{span(family, (lo, hi))} . {_number(box[0])} . {_number(box[1])}", comment_of(origins))
        for lo, hi, pieces in runs
        for box, origins in pieces
    ]


def plain(family: Family, ranges: Iterable[Range]) -> list[Element]:
    """Ranges merged where they touch (a plain interval set refuses overlaps too)."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(span(family, (lo, hi)), "") for lo, hi in merged]


def address(family: Family, value: int) -> str:
    """One address as text (IPv4 through inet_ntoa: the same text, 5x faster than `ipaddress`)."""
    if family == 4:
        return socket.inet_ntoa(value.to_bytes(4, "big"))
    return str(ipaddress.IPv6Address(value))


@functools.lru_cache(maxsize=65536)
def span(family: Family, rng: Range) -> str:
    """An address range as nft writes it: one address, a CIDR when aligned, else `low-high`."""
    lo, hi = rng
    if lo == hi:
        return address(family, lo)
    size = hi - lo + 1
    if size & (size - 1) == 0 and lo % size == 0:
        bits = family_max(family).bit_length() - (size.bit_length() - 1)
        return f"{address(family, lo)}/{bits}"
    return f"{address(family, lo)}-{address(family, hi)}"


def _number(rng: Range) -> str:
    return str(rng[0]) if rng[0] == rng[1] else f"{rng[0]}-{rng[1]}"


@functools.lru_cache(maxsize=65536)
def comment_of(origins: frozenset[str]) -> str:
    """`ns/name (Kind)` of the first origin, and how many more share the element."""
    ordered = sorted(origins)
    text = origin_label(ordered[0]) + (f" +{len(ordered) - 1}" if len(ordered) > 1 else "")
    return text[:COMMENT_MAX]
