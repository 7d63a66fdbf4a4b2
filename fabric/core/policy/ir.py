"""The canonical intermediate form the compiler produces and the renderer and `explain` read.

Every allow is one box: a local address (a pod or load-balancer IP, on the cluster side), a protocol
range, a destination-port range and a remote address range (the other side of the firewall), with the
object it came from.  Addresses are integers of their family, ranges are inclusive `(low, high)`.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar, overload

Direction = Literal["ingress", "egress"]
Family = Literal[4, 6]
Isolation = Literal["boundary", "kubernetes"]
Interval = tuple[int, int]  # inclusive (low, high): protocols, ports, addresses as integers

DIRECTIONS: tuple[Direction, ...] = ("ingress", "egress")
FAMILIES: tuple[Family, ...] = (4, 6)
PROTOCOL_NUMBERS = {"TCP": 6, "UDP": 17, "SCTP": 132}
PROTOCOL_NAMES = {v: k.lower() for k, v in PROTOCOL_NUMBERS.items()}
ALL_PROTOCOLS: Interval = (0, 255)
ALL_PORTS: Interval = (0, 65535)


def family_max(family: Family) -> int:
    """The highest address of `family` as an integer."""
    return (1 << 32) - 1 if family == 4 else (1 << 128) - 1


def all_addresses(family: Family) -> Interval:
    """The whole address space of `family`."""
    return (0, family_max(family))


@functools.lru_cache(maxsize=65536)
def network_range(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Interval:
    """A network as an inclusive integer range (memoised: source ranges recur across services).

    The high end is computed from the prefix length, not read from `broadcast_address`: that cached
    property builds two more address objects, and most networks are read here once."""
    low = int(net.network_address)
    return (low, low + (1 << (net.max_prefixlen - net.prefixlen)) - 1)


def subtract(base: Interval, holes: list[Interval]) -> list[Interval]:
    """`base` minus every range in `holes`, as sorted disjoint ranges."""
    out: list[Interval] = []
    cursor = base[0]
    for lo, hi in sorted(holes):
        if hi < cursor or lo > base[1]:
            continue
        if lo > cursor:
            out.append((cursor, lo - 1))
        cursor = max(cursor, hi + 1)
    if cursor <= base[1]:
        out.append((cursor, base[1]))
    return out


class Allow(NamedTuple):
    """Traffic of `direction` between `local` and `remote` on these protocols and ports is allowed.

    A named tuple, not a dataclass: 20,000 services make 60,000 of them, and this builds 5x faster.
    """

    direction: Direction
    family: Family
    local: int
    protocols: Interval
    ports: Interval
    remote: Interval
    origin: str


class Closure(NamedTuple):
    """Kubernetes mode: what a load-balancer address is closed to unless an allow matched first (all of
    it but its Service's ports from their source ranges; all of it for a rejected Service)."""

    family: Family
    local: int
    protocols: Interval
    ports: Interval
    origin: str


class Condition(NamedTuple):
    """Whether an object made it into the ruleset (`object` is `Kind/namespace/name`).

    A named tuple, not a frozen dataclass: one per object, and this builds in half the time."""

    object: str
    accepted: bool
    reason: str = ""


@dataclass
class CompiledPolicy:
    """Everything that decides what crosses the firewall, with provenance."""

    isolation: Isolation
    cluster: dict[Family, list[Interval]]
    allows: Sequence[Allow] = field(default_factory=list)
    closures: Sequence[Closure] = field(default_factory=list)
    isolated: dict[tuple[Direction, Family], dict[int, list[str]]] = field(default_factory=dict)
    conditions: Sequence[Condition] = field(default_factory=list)


T = TypeVar("T")


class Deferred(Sequence[T]):  # noqa: PLW1641 - unhashable, like a list (__eq__ clears __hash__)
    """A read-only list made on first use: the incremental compiler hands out 60,000 allows per sync,
    and most syncs only need the ruleset (the daemon reads conditions; `explain` reads allows)."""

    def __init__(self, make: Callable[[], list[T]]) -> None:
        self._make: Callable[[], list[T]] | None = make
        self._items: list[T] = []

    def _list(self) -> list[T]:
        if self._make is not None:
            self._items, self._make = self._make(), None
        return self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._list())

    def __len__(self) -> int:
        return len(self._list())

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._list()[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self._list() == list(other)

    def __repr__(self) -> str:
        return repr(self._list())


@dataclass(slots=True)
class Fragment:
    """What one object contributes to a `CompiledPolicy` (merged in a fixed order by `merge`)."""

    allows: list[Allow] = field(default_factory=list)
    closures: list[Closure] = field(default_factory=list)
    cluster: list[tuple[Family, Interval]] = field(default_factory=list)
    isolated: list[tuple[Direction, Family, int, str]] = field(default_factory=list)
    condition: Condition | None = None


def origin_label(origin: str) -> str:
    """`Kind/ns/name` → `ns/name (Kind)`: comments start with the owning object."""
    kind, _, rest = origin.partition("/")
    return f"{rest} ({kind})"
