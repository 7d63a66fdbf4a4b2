"""Set and map elements as nft writes them: allows and closures grouped by local address, made disjoint,
formatted.

The allows of one local address (in one direction and family) are one group: a verdict map element
(the address, a comment naming its origins) jumping to the address's `Profile`, the disjoint boxes of
all its allows.  Groups are small and their shapes repeat (10,000 services open on 80 and 443 have one
shape), so profiles are memoised by shape: each is computed once and shared by every address of that
shape.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import socket
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import NamedTuple

from fabric.core.policy.disjoint import Box, disjoint
from fabric.core.policy.ir import Allow, Closure, Direction, Family, Interval, family_max, origin_label

COMMENT_MAX = 120  # nftables stores at most 128 bytes
Element = tuple[str, str]
"""(key, comment): one set element."""


_ORIGIN = itemgetter(6)  # Allow.origin
_BOX = itemgetter(3, 4, 5)  # Allow (protocols, ports, remote)

PROFILE_PREFIX = {"ingress": "in", "egress": "eg"}


@dataclass(frozen=True, eq=False)
class Profile:
    """What one local address accepts in one direction and family: the disjoint (protocols, ports,
    remote) boxes of all its allows as `proto . port . remote` keys, named by a hash of those keys.
    Many addresses share one (every service open on 80 and 443 to everyone), so the table holds each
    once: an interval set and a chain of this name, jumped to from the direction's verdict map.

    Equal names mean equal profiles (a name collision is resolved when the profile is made, see
    `profile`), so profiles compare by name alone."""

    name: str
    elements: tuple[str, ...]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


MapElement = tuple[str, str, str]
"""(local address, comment naming its origins, profile name): one verdict map element."""

Group = tuple[MapElement, Profile]
"""What one local address contributes to its direction's map: its element and its profile."""


class Allows(NamedTuple):
    """One direction and family's allows: the map elements in address order, the profiles they jump
    to by name, and how many elements jump to each (so a splice knows when one stops being used)."""

    elements: tuple[MapElement, ...]
    profiles: dict[str, Profile]
    refs: dict[str, int]


_NAMES: weakref.WeakValueDictionary[str, Profile] = weakref.WeakValueDictionary()
"""Every live profile by name: where a hash collision is found."""


def allow_group(direction: Direction, family: Family, local: int, allows: Sequence[Allow]) -> Group:
    """The map element and profile of every allow of one direction whose local address is `local`."""
    origins = set(map(_ORIGIN, allows))
    # most groups: one Service or one policy's pod; itemgetter keeps this in C
    comment = _label(allows[0].origin) if len(origins) == 1 else comment_of(frozenset(origins))
    found = profile(direction, family, frozenset(map(_BOX, allows)))
    return (address(family, local), comment, found.name), found


@functools.lru_cache(maxsize=65536)
def profile(
    direction: Direction, family: Family, shape: frozenset[tuple[Interval, Interval, Interval]]
) -> Profile:
    """The profile of one address whose allows are the boxes `shape` (memoised by shape: 10,000
    services of one shape cost one computation).  Its keys are `disjoint` of the boxes with one label,
    so touching pieces merge and the keys are the canonical cover of the union, whatever the origins.

    The name is the direction and family (`in4_`) and 12 hex digits of a blake2b hash of the keys:
    stable across syncs and restarts.  Should another live profile hold that name already (a 1 in
    2**48 chance per pair), this one takes 24 digits instead of being merged with it."""
    keys = tuple(_suffix(family, box) for box, _ in disjoint([(box, "") for box in sorted(shape)]))
    text = "\n".join(keys).encode()
    prefix = f"{PROFILE_PREFIX[direction]}{family}_"
    for size in (6, 12, 32):
        name = prefix + hashlib.blake2b(text, digest_size=size).hexdigest()
        held = _NAMES.get(name)
        if held is None:
            made = Profile(name, keys)
            _NAMES[name] = made
            return made
        if held.elements == keys:
            return held
    raise AssertionError(f"blake2b collision at 256 bits for {prefix}: {keys}")  # pragma: no cover


def _suffix(family: Family, box: Box) -> str:
    """`proto . port . remote` of one piece."""
    protocols, ports, remote = box
    return f"{_number(protocols)} . {_number(ports)} . {span(family, remote)}"


def prefix_length(family: Family, rng: Interval) -> int | None:
    """The prefix length of a CIDR-aligned range, else None."""
    lo, hi = rng
    size = hi - lo + 1
    if size & (size - 1) or lo % size:
        return None
    return family_max(family).bit_length() - (size.bit_length() - 1)


def join_groups(groups: Iterable[Group]) -> Allows:
    """Per-address groups joined in the order given (address order)."""
    pairs = list(groups)
    elements = tuple(map(itemgetter(0), pairs))
    profiles = list(map(itemgetter(1), pairs))
    return Allows(
        elements,
        dict(zip(map(attrgetter("name"), profiles), profiles, strict=True)),
        dict(Counter(map(itemgetter(2), elements))),
    )


def group_offsets(groups: Iterable[tuple[int, Group]]) -> dict[int, int]:
    """Where each address's element is in the joined tuple, for groups given in address order."""
    return {local: n for n, (local, _) in enumerate(groups)}


def splice_groups(joined: Allows, changes: Iterable[tuple[int, Group, Group]]) -> Allows:
    """`joined` with changed groups (offset, old, new) replaced in place: the same as joining again,
    copying the element tuple once and the profile tables only when a profile came or went."""
    flat = list(joined.elements)
    profiles, refs = joined.profiles, joined.refs
    copied = False
    for offset, (_, old), (element, new) in changes:
        flat[offset] = element
        if old is new:
            continue
        if not copied:
            profiles, refs, copied = dict(profiles), dict(refs), True
        refs[old.name] -= 1
        if not refs[old.name]:
            del refs[old.name], profiles[old.name]
        refs[new.name] = refs.get(new.name, 0) + 1
        profiles[new.name] = new
    return Allows(tuple(flat), profiles, refs)


def closure_group(closures: Sequence[Closure]) -> Pieces:
    """Disjoint (protocols, ports) pieces of the closures of one local address, with their origins."""
    return disjoint([((g.protocols, g.ports), g.origin) for g in closures])


Pieces = list[tuple[Box, frozenset[str]]]


def closure_elements(family: Family, groups: Iterable[tuple[int, Pieces]]) -> list[Element]:
    """Closure elements from per-address groups in address order: runs of consecutive addresses with equal
    pieces become one address range, exactly as `disjoint` over all closures would merge them."""
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


def plain(family: Family, ranges: Iterable[Interval]) -> list[Element]:
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
def span(family: Family, rng: Interval) -> str:
    """An address range as nft writes it: one address, a CIDR when aligned, else `low-high`."""
    lo, hi = rng
    if lo == hi:
        return address(family, lo)
    bits = prefix_length(family, rng)
    if bits is not None:
        return f"{address(family, lo)}/{bits}"
    return f"{address(family, lo)}-{address(family, hi)}"


def _number(rng: Interval) -> str:
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
