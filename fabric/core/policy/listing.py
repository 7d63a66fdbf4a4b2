"""What changed between two full listings of manifests, without Python code per unchanged manifest.

A daemon hands `PolicyCompiler.sync` the whole cached listing every time (20,000 objects), and the
cache hands out the very same dicts for unchanged objects.  Two ways to find the few that changed:
`by_position` compares the listing with the previous one entry by entry by identity (`is not`, in C,
~0.2 ms for 20,000), which holds when the previous listing held distinct objects only (the compiler
checks that); `by_identity` looks every entry up in the held objects by `id()`, which holds always.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import compress, repeat
from operator import indexOf, is_, is_not
from typing import Any, NamedTuple

from fabric.core.policy.kube import KINDS
from fabric.core.policy.manifests import flatten, raw_id

Raw = dict[str, Any]
MIDDLE_MAX = 256  # beyond this many differing entries, `by_identity` is as cheap


class Delta:
    """Top-level entries that are not held (`fresh`), and ids of held objects no longer listed."""

    __slots__ = ("fresh", "gone")

    def __init__(self, fresh: list[Any], gone: Iterable[str]) -> None:
        self.fresh, self.gone = fresh, gone


class Fresh(NamedTuple):
    """The manifests of fresh entries (`List`s unpacked), their ids, ids of held objects found inside
    fresh `List`s, and whether there were any `List`s."""

    changed: list[Raw]
    idents: set[str]
    kept: set[str]
    lists: bool


def by_position(prev: list[Any], listing: list[Any], held: dict[int, str]) -> Delta | None:
    """The delta from `prev` (every entry a distinct held object) to `listing`: entries outside the
    differing middle stretch are the same objects as before; None when the stretch is long."""
    n, m = len(prev), len(listing)
    limit = min(n, m)
    head = _first(map(is_not, prev, listing), limit)
    if head == n == m:
        return Delta([], ())
    tail = min(_first(map(is_not, reversed(prev), reversed(listing)), limit), limit - head)
    old, new = prev[head : n - tail], listing[head : m - tail]
    if len(old) + len(new) > MIDDLE_MAX:
        return None
    listed = {id(x) for x in new}
    # An old entry is listed no more unless it moved within the stretch: the entries outside it are
    # the same objects as before, and were distinct from it.
    gone = [held[id(o)] for o in old if id(o) not in listed and id(o) in held]
    return Delta([x for x in new if id(x) not in held], gone)


def _first(differs: Iterator[bool], limit: int) -> int:
    """The index of the first True (in C), else `limit`."""
    try:
        return indexOf(differs, True)
    except ValueError:
        return limit


def by_identity(listing: list[Any], held: dict[int, str], count_held: int) -> Delta:
    """The delta of `listing` against the held objects (`held`: `id()` of each → its object id)."""
    hits = list(map(held.get, map(id, listing)))
    seen = dict.fromkeys(hits)
    fresh: list[Any] = []
    if None in seen:
        del seen[None]
        fresh = list(compress(listing, map(is_, hits, repeat(None))))
    # Every held object listed again: nothing gone (held ids are distinct), else the rest.
    gone = () if len(seen) == count_held else set(held.values()).difference(seen)
    return Delta(fresh, gone)


def fresh_manifests(fresh: list[Any], held: dict[int, str]) -> Fresh:
    """The manifests of the fresh entries that the compiler reads (`List`s unpacked)."""
    out = Fresh([], set(), set(), False)
    for entry in fresh:
        if isinstance(entry, dict) and isinstance(entry.get("items"), list):
            out = out._replace(lists=True)
    for raw in flatten(fresh):
        ident = held.get(id(raw))
        if ident is not None:  # a held object inside a new `List`
            out.kept.add(ident)
            continue
        kind = raw.get("kind")
        if isinstance(kind, str) and kind in KINDS:
            out.idents.add(raw_id(kind, raw))
            out.changed.append(raw)
    return out
