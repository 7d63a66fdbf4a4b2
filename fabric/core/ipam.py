"""IPAM arithmetic on free spans: next free address, child prefix or number without scanning.

A pool (a prefix, a VNI range, an ASN range) is kept as its *free* spans, disjoint inclusive integer
intervals ordered by their first value.  Taking the next free address is "shrink the lowest free span",
taking a given value is "split the span that holds it", releasing is "insert a span and merge it with
its neighbours".  Each is O(1) arithmetic on at most three spans; the store finds those spans through an
index, so the cost never depends on how many values are taken (go-ipam scans the whole prefix).

Values are integers; the store keys them as fixed-width hex (`key`) so both IPv4 and IPv6 (128 bits, too
wide for a database integer) sort as strings in numeric order.  Everything here is pure and deterministic.
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass

from fabric.errors import AllocationError, ValidationError

KEY_WIDTH = 32  # hex digits of a 128-bit value
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, order=True)
class Span:
    """An inclusive interval `[first, last]` of free values."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError(f"empty span {self.first}..{self.last}")

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.first <= value <= self.last


def key(value: int) -> str:
    """Fixed-width hex of `value`: string order equals numeric order (the store's index key)."""
    return f"{value:0{KEY_WIDTH}x}"


def unkey(text: str) -> int:
    """Inverse of `key`."""
    return int(text, 16)


def parse_prefix(text: str, path: str = "prefix") -> Network:
    """Parse a CIDR with host bits zero; `ValidationError` naming `path` otherwise."""
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not a valid prefix: {exc}", path) from None


def parse_allowed(text: str, path: str) -> Network:
    """Parse a prefix filter (`10.244.0.0/16` or `10.244.0.0/16 le 24`), the way the documents read
    it: host bits zero, `le` longer than the prefix and within its family; `ValidationError` naming
    `path` otherwise.  Answers the prefix."""
    words = text.split()
    net = parse_prefix(words[0], path)
    if len(words) == 3 and words[1] == "le":
        le = int(words[2])
        if not net.prefixlen < le <= net.max_prefixlen:
            raise ValidationError(
                f"{text!r}: le {le} must be greater than the prefix length {net.prefixlen} "
                f"and at most {net.max_prefixlen}",
                path,
            )
    elif len(words) != 1:
        raise ValidationError(f"{text!r} is not a prefix or 'prefix le LENGTH'", path)
    return net


def parse_address(text: str, path: str = "address") -> Address:
    """Parse an IPv4 or IPv6 address; `ValidationError` naming `path` otherwise."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not an IPv4 or IPv6 address", path) from None


def prefix_span(net: Network, *, reserve_edges: bool) -> Span:
    """The values of `net` usable for allocation.

    With `reserve_edges` an IPv4 subnet of /30 or wider keeps its network and broadcast addresses out
    (hosts cannot use them) and an IPv6 subnet of /126 or wider its subnet-router anycast address; a
    prefix that is carved into child prefixes keeps every value.
    """
    first, last = int(net.network_address), int(net.broadcast_address)
    if reserve_edges and net.version == 4 and net.prefixlen <= 30:
        return Span(first + 1, last - 1)
    if reserve_edges and net.version == 6 and net.prefixlen <= 126:
        return Span(first + 1, last)
    return Span(first, last)


def aligned_start(span: Span, size: int) -> int | None:
    """Lowest start of a block of `size` (a power of two) aligned to `size` inside `span`, or None."""
    start = -(-span.first // size) * size
    return start if start + size - 1 <= span.last else None


def carve(span: Span, start: int, size: int) -> list[Span]:
    """What remains of `span` after taking `[start, start+size-1]` (which must lie inside it)."""
    end = start + size - 1
    if start not in span or end not in span:
        raise ValueError(f"{start}..{end} is not inside {span.first}..{span.last}")
    rest = []
    if span.first < start:
        rest.append(Span(span.first, start - 1))
    if end < span.last:
        rest.append(Span(end + 1, span.last))
    return rest


def merge(released: Span, left: Span | None, right: Span | None) -> Span:
    """`released` joined with the free neighbours that touch it (`left` ends just before, `right`
    starts just after); neighbours that do not touch are ignored."""
    first = left.first if left is not None and left.last + 1 == released.first else released.first
    last = right.last if right is not None and right.first - 1 == released.last else released.last
    return Span(first, last)


def allocated_spans(free: list[Span], whole: Span) -> list[Span]:
    """The taken values of a pool spanning `whole` whose free spans are `free`, as spans."""
    return _gaps(free, whole)


def _gaps(spans: list[Span], whole: Span) -> list[Span]:
    """What of `whole` the disjoint `spans` (all inside it) leave uncovered, as sorted spans."""
    out, cursor = [], whole.first
    for span in sorted(spans):
        if span.first > cursor:
            out.append(Span(cursor, span.first - 1))
        cursor = span.last + 1
    if cursor <= whole.last:
        out.append(Span(cursor, whole.last))
    return out


def resized(free: list[Span], whole: Span, new: Span) -> list[Span] | int:
    """The free spans of the pool once it spans `new` instead of `whole`, everything taken kept taken;
    or, when a taken value would fall outside `new`, the lowest such value (the resize is refused)."""
    taken_spans = allocated_spans(free, whole)
    for span in taken_spans:
        if span.first < new.first:
            return span.first
        if span.last > new.last:
            return max(span.first, new.last + 1)
    return _gaps(taken_spans, new)


def block_size(net_bits: int, length: int, parent_length: int, path: str = "length") -> int:
    """Number of values in a child prefix of `length` inside a parent of `parent_length`."""
    if not parent_length < length <= net_bits:
        raise ValidationError(
            f"child length /{length} must be longer than the parent's /{parent_length} and at most "
            f"/{net_bits}",
            path,
        )
    return 1 << (net_bits - length)


def exhausted(pool: str, size: int, asked: str) -> AllocationError:
    """The error of a pool that cannot satisfy `asked`: names the pool and its size."""
    return AllocationError(f"pool {pool} (size {size}) is exhausted: cannot allocate {asked}", pool, size)


def taken(pool: str, size: int, asked: str) -> AllocationError:
    """The error of a requested value that is allocated already or outside the pool."""
    return AllocationError(f"{asked} is not free in pool {pool} (size {size})", pool, size)


class FreeSpace:
    """An in-memory pool as sorted free spans; the reference the store's queries implement.

    Used directly by tests (hypothesis compares it with a set of values) and by small pools.
    """

    def __init__(self, name: str, whole: Span) -> None:
        self.name = name
        self.whole = whole
        self._firsts: list[int] = [whole.first]
        self._spans: list[Span] = [whole]

    @property
    def spans(self) -> list[Span]:
        """The free spans in order."""
        return list(self._spans)

    @property
    def free(self) -> int:
        """How many values are free."""
        return sum(s.size for s in self._spans)

    def take(self, size: int = 1) -> int:
        """Take the lowest free block of `size` aligned to `size`; return its start."""
        for i, span in enumerate(self._spans):
            start = aligned_start(span, size)
            if start is not None:
                self._replace(i, carve(span, start, size))
                return start
        raise exhausted(self.name, self.whole.size, f"a block of {size}")

    def take_at(self, start: int, size: int = 1) -> int:
        """Take exactly `[start, start+size-1]`; `AllocationError` when any of it is not free."""
        i = bisect.bisect_right(self._firsts, start) - 1
        end = start + size - 1
        if i < 0 or end not in self._spans[i] or start not in self._spans[i]:
            raise taken(self.name, self.whole.size, f"{start}..{end}" if size > 1 else str(start))
        self._replace(i, carve(self._spans[i], start, size))
        return start

    def release(self, start: int, size: int = 1) -> None:
        """Give `[start, start+size-1]` back; releasing a free value is refused (a double free)."""
        span = Span(start, start + size - 1)
        if span.first not in self.whole or span.last not in self.whole:
            raise taken(self.name, self.whole.size, f"release of {start} outside the pool")
        i = bisect.bisect_right(self._firsts, start)
        left = self._spans[i - 1] if i > 0 else None
        right = self._spans[i] if i < len(self._spans) else None
        if (left is not None and left.last >= span.first) or (right is not None and right.first <= span.last):
            raise AllocationError(f"{start} is free already in pool {self.name}", self.name, self.whole.size)
        joined = merge(span, left, right)
        lo = i - 1 if left is not None and joined.first == left.first else i
        hi = i + 1 if right is not None and joined.last == right.last else i
        self._spans[lo:hi] = [joined]
        self._firsts[lo:hi] = [joined.first]

    def _replace(self, i: int, rest: list[Span]) -> None:
        self._spans[i : i + 1] = rest
        self._firsts[i : i + 1] = [s.first for s in rest]
