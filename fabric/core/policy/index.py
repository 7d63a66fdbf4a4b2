"""Items (allows, guards) grouped by set and local address, with each group's result memoised.

`replace(origin, old, new)` swaps what one object contributes and marks only the groups it touches; the
next `elements(set)` re-formats those groups and joins all groups in address order again (the joined
tuple is rebuilt only for sets that changed, so unchanged sets keep the very same tuple).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

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
    ) -> None:
        self._group, self._join, self._with_locals = group, join, with_locals
        self._items: dict[S, dict[int, dict[str, list[T]]]] = {}
        self._groups: dict[S, dict[int, G]] = {}
        self._order: dict[S, list[int]] = {}
        self._dirty: dict[S, set[int]] = {}
        self._elements: dict[S, Any] = {}

    def replace(
        self, origin: str, old: Sequence[T], new: Sequence[T], where: Callable[[T], tuple[S, int]]
    ) -> None:
        """What `origin` contributes changes from `old` to `new`; `where` gives an item's set and local."""
        if old == new:
            return
        for which, local in {where(item) for item in old}:
            self._items[which][local].pop(origin, None)
            self._dirty.setdefault(which, set()).add(local)
        grouped: dict[tuple[S, int], list[T]] = {}
        for item in new:
            grouped.setdefault(where(item), []).append(item)
        for (which, local), items in grouped.items():
            self._items.setdefault(which, {}).setdefault(local, {})[origin] = items
            self._dirty.setdefault(which, set()).add(local)

    def elements(self, which: S) -> Any:
        """What `join` made of set `which`'s groups (memoised until one of them changes)."""
        dirty = self._dirty.pop(which, None)
        if dirty:
            items, groups = self._items[which], self._groups.setdefault(which, {})
            for local in dirty:
                bucket = items.get(local)
                if not bucket:
                    items.pop(local, None)
                    if groups.pop(local, None) is not None:
                        self._order.pop(which, None)
                    continue
                if local not in groups:
                    self._order.pop(which, None)
                lists = list(bucket.values())  # one list per origin; usually one origin
                found = lists[0] if len(lists) == 1 else [i for part in lists for i in part]
                groups[local] = self._group(which, local, found)
            self._elements.pop(which, None)
        if which not in self._elements:
            groups = self._groups.get(which, {})
            order = self._order.get(which)
            if order is None:
                order = self._order[which] = sorted(groups)
            parts = ((k, groups[k]) for k in order) if self._with_locals else (groups[k] for k in order)
            self._elements[which] = self._join(which, parts)
        return self._elements[which]
