"""nftables text of a `Ruleset`: the full table as one transaction, or an element-only update."""

from __future__ import annotations

from itertools import compress, count
from operator import is_not

from fabric.core.policy.ruleset import NftSet, Ruleset
from fabric.render.env import render

IP = {4: "ip", 6: "ip6"}
NFPROTO = {4: "ipv4", 6: "ipv6"}
# Drop chains, each with its own named counter (read back as metrics) and log prefix.
DENIES = (
    ("deny_in", "fabric deny in: "),
    ("deny_eg", "fabric deny out: "),
    ("deny_other", "fabric deny other: "),
    ("deny_input", "fabric deny input: "),
    ("drop_invalid", "fabric invalid: "),
)


def render_ruleset(ruleset: Ruleset) -> str:
    """A complete `nft -f` script replacing `table inet fabric` (and nothing else) atomically."""
    return render(
        "nft/ruleset.j2",
        r=ruleset,
        elements={s.name: element_lines(s.elements) for s in ruleset.sets},
        ip=IP,
        nfproto=NFPROTO,
        denies=DENIES,
        counters=[name for name, _ in DENIES],
    )


def element_lines(elements: tuple[tuple[str, str], ...]) -> str:
    """A set's `elements = { ... }` lines, one per element.  Joined here rather than looped over in the
    template: a 60,000-element table formats in half the time."""
    return "".join([f'\t\t\t{k} comment "{c}",\n' if c else f"\t\t\t{k},\n" for k, c in elements])


def render_element_update(old: Ruleset, new: Ruleset) -> str | None:
    """An `nft -f` script changing only set elements, or None when the table's skeleton changed."""
    if old.skeleton() != new.skeleton():
        return None
    lines: list[str] = []
    for before, after in zip(old.sets, new.sets, strict=True):
        lines.extend(_element_diff(new.table, before, after))
    return "".join(line + "\n" for line in lines)


def _element_diff(table: str, before: NftSet, after: NftSet) -> list[str]:
    if before.elements is after.elements:
        return []
    old, new = _changed_middle(before.elements, after.elements)
    old_map, new_map = dict(old), dict(new)
    gone = [k for k, c in old if new_map.get(k) != c]
    added = [k for k, c in new if old_map.get(k) != c]
    lines = []
    if gone:
        lines.append(f"delete element inet {table} {before.name} {{ {', '.join(gone)} }}")
    if added:
        items = ", ".join(f'{k} comment "{new_map[k]}"' if new_map[k] else k for k in added)
        lines.append(f"add element inet {table} {after.name} {{ {items} }}")
    return lines


Elements = tuple[tuple[str, str], ...]


def _changed_middle(old: Elements, new: Elements) -> tuple[Elements, Elements]:
    """Both lists without their common head and tail: a change to one object is a short stretch of a
    long canonical list, and keys are unique, so nothing outside the stretches can differ.

    The ends are found by identity, in C: the incremental compiler reuses the element tuples of every
    unchanged object, so `is not` stops where `!=` would, at a fraction of the cost (no tuple
    comparison per element).  An equal element that is not the same tuple only widens the stretches,
    which the caller compares by value."""
    limit = min(len(old), len(new))
    head = next(compress(count(), map(is_not, old, new)), limit)
    tail = next(compress(count(), map(is_not, reversed(old), reversed(new))), limit)
    tail = min(tail, limit - head)
    return old[head : len(old) - tail], new[head : len(new) - tail]
