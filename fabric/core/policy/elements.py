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
from operator import itemgetter
from typing import TypeVar

from fabric.core.policy.disjoint import Box, disjoint
from fabric.core.policy.ir import Allow, Family, Guard, Range, family_max, origin_label

COMMENT_MAX = 120  # nftables stores at most 128 bytes
Element = tuple[str, str]
"""(key, comment): one set element."""


_E = TypeVar("_E")
_ORIGIN = itemgetter(6)  # Allow.origin
_BOX = itemgetter(3, 4, 5)  # Allow (protocols, ports, remote)

Bucket = int | None
"""Where an allow element goes: None for the interval set, else the prefix length of its remote block
(an exact protocol, an exact port and a CIDR-aligned remote go to the hash set of that length)."""


def allow_buckets(family: Family, local: int, allows: Sequence[Allow]) -> dict[Bucket, list[Element]]:
    """The elements of every allow of one direction whose local address is `local`, by set (bucket)."""
    prefix = address(family, local)
    origins = set(map(_ORIGIN, allows))
    if len(origins) == 1:  # most groups: one Service or one policy's pod; itemgetter keeps this in C
        comment = _label(allows[0].origin)
        shape = frozenset(map(_BOX, allows))
        return {
            bucket: [(f"{prefix} . {suffix}", comment) for suffix in suffixes]
            for bucket, suffixes in _single_origin(family, shape)
        }
    boxes: list[tuple[Box, str]] = [((a.protocols, a.ports, a.remote), a.origin) for a in allows]
    return by_bucket(
        (bucket, (f"{prefix} . {suffix}", comment_of(o)))
        for (bucket, suffix), o in ((_suffix(family, b), o) for b, o in disjoint(boxes))
    )


@functools.lru_cache(maxsize=65536)
def _single_origin(
    family: Family, shape: frozenset[tuple[Range, Range, Range]]
) -> tuple[tuple[Bucket, tuple[str, ...]], ...]:
    """The element suffixes of one origin's boxes (`disjoint` of them), by bucket in first-seen order."""
    pieces = disjoint([(box, "") for box in sorted(shape)])
    buckets = by_bucket(_suffix(family, b) for b, _ in pieces)
    return tuple((bucket, tuple(suffixes)) for bucket, suffixes in buckets.items())


def _suffix(family: Family, box: Box) -> tuple[Bucket, str]:
    """`proto . port . remote` of one piece, and its bucket."""
    protocols, ports, remote = box
    length = prefix_length(family, remote)
    if protocols[0] != protocols[1] or ports[0] != ports[1] or length is None:
        return None, f"{_number(protocols)} . {_number(ports)} . {span(family, remote)}"
    if length == 0:
        return 0, f"{protocols[0]} . {ports[0]}"
    return length, f"{protocols[0]} . {ports[0]} . {address(family, remote[0])}"


def prefix_length(family: Family, rng: Range) -> int | None:
    """The prefix length of a CIDR-aligned range, else None."""
    lo, hi = rng
    size = hi - lo + 1
    if size & (size - 1) or lo % size:
        return None
    return family_max(family).bit_length() - (size.bit_length() - 1)


def by_bucket(pairs: Iterable[tuple[Bucket, _E]]) -> dict[Bucket, list[_E]]:
    """Elements by bucket, each in the order given."""
    out: dict[Bucket, list[_E]] = {}
    for bucket, element in pairs:
        if bucket in out:
            out[bucket].append(element)
        else:
            out[bucket] = [element]
    return out


def join_buckets(groups: Iterable[dict[Bucket, list[Element]]]) -> dict[Bucket, tuple[Element, ...]]:
    """Per-address groups (`by_bucket` of each) joined in the order given; the interval bucket is
    always there.  One `extend` per group and bucket: most groups hold one bucket."""
    out: dict[Bucket, list[Element]] = {None: []}
    for group in groups:
        for bucket, elements in group.items():
            if bucket in out:
                out[bucket].extend(elements)
            else:
                out[bucket] = list(elements)
    return {b: tuple(v) for b, v in out.items()}


Offsets = dict[Bucket, int]
"""Where one address's elements start in each bucket's joined tuple."""


def bucket_offsets(groups: Iterable[tuple[int, dict[Bucket, list[Element]]]]) -> dict[int, Offsets]:
    """`Offsets` of every address, for groups given in address order (the order `join_buckets` uses)."""
    at: dict[Bucket, int] = {}
    out: dict[int, Offsets] = {}
    for local, group in groups:
        here: Offsets = {}
        for bucket, elements in group.items():
            here[bucket] = start = at.get(bucket, 0)
            at[bucket] = start + len(elements)
        out[local] = here
    return out


def splice_buckets(
    joined: dict[Bucket, tuple[Element, ...]],
    changes: Iterable[tuple[Offsets, dict[Bucket, list[Element]], dict[Bucket, list[Element]]]],
) -> dict[Bucket, tuple[Element, ...]] | None:
    """`joined` with changed groups (offsets, old, new) replaced in place: the same as joining again,
    in C-speed copies of the changed buckets only; None when a group's buckets or counts changed (the
    offsets of the groups after it would move)."""
    edits: dict[Bucket, list[tuple[int, list[Element]]]] = {}
    for offsets, old, new in changes:
        if old.keys() != new.keys():
            return None
        for bucket, elements in new.items():
            before = old[bucket]
            if len(elements) != len(before):
                return None
            if elements != before:
                edits.setdefault(bucket, []).append((offsets[bucket], elements))
    out = dict(joined)
    for bucket, pieces in edits.items():
        flat = list(joined[bucket])
        for start, elements in pieces:
            flat[start : start + len(elements)] = elements
        out[bucket] = tuple(flat)
    return out


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
    bits = prefix_length(family, rng)
    if bits is not None:
        return f"{address(family, lo)}/{bits}"
    return f"{address(family, lo)}-{address(family, hi)}"


def _number(rng: Range) -> str:
    return str(rng[0]) if rng[0] == rng[1] else f"{rng[0]}-{rng[1]}"


@functools.lru_cache(maxsize=65536)
def comment_of(origins: frozenset[str]) -> str:
    """`ns/name (Kind)` of the first origin, and how many more share the element."""
    if len(origins) == 1:
        return _label(next(iter(origins)))
    ordered = sorted(origins)
    return (origin_label(ordered[0]) + f" +{len(ordered) - 1}")[:COMMENT_MAX]


def _label(origin: str) -> str:
    """`comment_of` one origin (not memoised: nearly every origin is an element group of its own)."""
    return origin_label(origin)[:COMMENT_MAX]
