"""Items (allows, closures) grouped by set and local address, with each group's result memoised.

`replace(origin, old, new)` swaps what one object contributes and marks only the groups it touches; the
next `elements(set)` re-formats those groups and joins all groups in address order again (the joined
tuple is rebuilt only for sets that changed, so unchanged sets keep the very same tuple).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

S = TypeVar("S", bound=Hashable)  # which set
T = TypeVar("T")  # one item
G = TypeVar("G")  # one group's memoised result


class GroupIndex(Generic[S, T, G]):
    """`group(set, local, items)` formats one group; `join(set, groups in address order)` makes the
    set's elements (`groups` are `(local, result)` pairs when `with_locals`)."""

    def __init__(
        self,
        group: Callable[[S, int, list[T]], G],
        join: Callable[[S, Iterable[Any]], Any],
        *,
        with_locals: bool = False,
        splice: Splicer | None = None,
    ) -> None:
        self._group, self._join, self._with_locals, self._splice = group, join, with_locals, splice
        self._offsets: dict[S, dict[int, Any]] = {}
        self._items: dict[S, dict[int, dict[str, list[T]]]] = {}
        self._groups: dict[S, dict[int, G]] = {}
        self._order: dict[S, list[int]] = {}
        self._dirty: dict[S, set[int]] = {}
        self._elements: dict[S, Any] = {}

    def replace(
        self,
        origin: str,
        old: Sequence[T],
        new: Sequence[T],
        which: Callable[[T], S],
        local: Callable[[T], int],
    ) -> None:
        """What `origin` contributes changes from `old` to `new`; `which` and `local` give an item's set
        and local address (pass `operator.attrgetter`s: items are placed in C, not per Python call)."""
        if old == new:
            return
        if old:
            for key, address in set(zip(map(which, old), map(local, old), strict=True)):
                self._items[key][address].pop(origin, None)
                self._mark(key, address)
        if not new:
            return
        # Not strict: both maps run over `new` (a strict zip costs 20% of this line).
        places = list(zip(map(which, new), map(local, new), strict=False))
        if places.count(places[0]) == len(places):  # the usual case: one object, one address, one set
            self._put(origin, places[0], list(new))
            return
        grouped: dict[tuple[S, int], list[T]] = {}
        for place, item in zip(places, new, strict=True):
            grouped.setdefault(place, []).append(item)
        for place, items in grouped.items():
            self._put(origin, place, items)

    def _put(self, origin: str, place: tuple[S, int], items: list[T]) -> None:
        # get-then-create rather than setdefault({}): no throwaway dict per call on a cold start.
        key, address = place
        by_address = self._items.get(key)
        if by_address is None:
            by_address = self._items[key] = {}
        bucket = by_address.get(address)
        if bucket is None:
            bucket = by_address[address] = {}
        bucket[origin] = items
        self._mark(key, address)

    def _mark(self, key: S, address: int) -> None:
        dirty = self._dirty.get(key)
        if dirty is None:
            dirty = self._dirty[key] = set()
        dirty.add(address)

    def elements(self, which: S) -> Any:
        """What `join` made of set `which`'s groups (memoised until one of them changes).  When only
        groups that were there already changed, `splice` (if given) patches the last result instead."""
        dirty = self._dirty.pop(which, None)
        if dirty:
            items, groups = self._items[which], self._groups.setdefault(which, {})
            changes: list[tuple[int, G, G]] | None = []
            for local in dirty:
                bucket = items.get(local)
                old = groups.get(local)
                if not bucket:
                    items.pop(local, None)
                    if groups.pop(local, None) is not None:
                        self._order.pop(which, None)
                    changes = None
                    continue
                if old is None:
                    self._order.pop(which, None)
                lists = list(bucket.values())  # one list per origin; usually one origin
                found = lists[0] if len(lists) == 1 else [i for part in lists for i in part]
                groups[local] = new = self._group(which, local, found)
                if old is None:
                    changes = None
                elif changes is not None:
                    changes.append((local, old, new))
            self._patch(which, changes)
        if which not in self._elements:
            groups = self._groups.get(which, {})
            order = self._order.get(which)
            if order is None:
                order = self._order[which] = sorted(groups)
            parts = ((k, groups[k]) for k in order) if self._with_locals else (groups[k] for k in order)
            self._elements[which] = self._join(which, parts)
        return self._elements[which]

    def _patch(self, which: S, changes: list[tuple[int, G, G]] | None) -> None:
        """Splice `changes` (local, old, new) into the last result, else drop it to be joined again."""
        last, splice = self._elements.pop(which, None), self._splice
        if changes and last is not None and splice is not None and which in self._order:
            offsets = self._offsets.get(which)
            if offsets is None:  # computed once, kept while splices keep every group's place
                groups = self._groups[which]
                offsets = self._offsets[which] = splice.offsets((k, groups[k]) for k in self._order[which])
            patched = splice.patch(last, [(offsets[local], old, new) for local, old, new in changes])
            if patched is not None:
                self._elements[which] = patched
                return
        self._offsets.pop(which, None)


class Splicer(NamedTuple):
    """How a join's result is patched: `offsets` of groups in order, `patch(result, [(offset, old,
    new)])` (None when it cannot)."""

    offsets: Callable[[Iterable[tuple[int, Any]]], dict[int, Any]]
    patch: Callable[[Any, list[tuple[Any, Any, Any]]], Any]
