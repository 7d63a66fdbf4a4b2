"""nftables text of a `Ruleset`: the full table as one transaction, or an element-only update.

Elements and profiles are joined into text here rather than looped over in templates: a table of
20,000 map elements and 10,000 profiles formats several times faster."""

from __future__ import annotations

from itertools import compress, count
from operator import is_not
from typing import TypeVar

from fabric.core.policy.elements import MapElement, Profile
from fabric.core.policy.ruleset import ADDRESS_TYPE, NftMap, NftSet, Ruleset
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
        map_elements={m.name: map_lines(m.elements) for m in ruleset.maps},
        profiles="".join(profile_blocks(m) for m in ruleset.maps),
        ip=IP,
        addr=ADDRESS_TYPE,
        nfproto=NFPROTO,
        denies=DENIES,
        counters=[name for name, _ in DENIES],
    )


def element_lines(elements: tuple[tuple[str, str], ...]) -> str:
    """A set's `elements = { ... }` lines, one per element.  Joined here rather than looped over in the
    template: a 60,000-element table formats in half the time."""
    return "".join([f'\t\t\t{k} comment "{c}",\n' if c else f"\t\t\t{k},\n" for k, c in elements])


def map_lines(elements: tuple[MapElement, ...]) -> str:
    """A verdict map's `elements = { ... }` lines: `address comment "origins" : jump profile`."""
    return "".join(
        [
            f'\t\t\t{k} comment "{c}" : jump {p},\n' if c else f"\t\t\t{k} : jump {p},\n"
            for k, c, p in elements
        ]
    )


def profile_blocks(m: NftMap) -> str:
    """The set and chain of every profile of `m`, by name (their order in the table is canonical)."""
    return "".join(_profile_block(m, m.profiles[name]) for name in sorted(m.profiles))


def _profile_block(m: NftMap, p: Profile) -> str:
    elements = "".join([f"\t\t\t{k},\n" for k in p.elements])
    return (
        f"\tset {p.name} {{\n\t\ttype {m.profile_type}\n\t\tflags interval\n"
        f'\t\tcomment "{m.profile_comment}"\n\t\telements = {{\n{elements}\t\t}}\n\t}}\n\n'
        f'\tchain {p.name} {{\n\t\tcomment "{m.profile_comment}"\n'
        f"\t\t{m.profile_match} @{p.name} counter accept\n\t}}\n\n"
    )


def render_element_update(old: Ruleset, new: Ruleset) -> str | None:
    """An `nft -f` script changing only set and map elements (and the profiles they jump to), or None
    when the table's skeleton changed."""
    if old.skeleton() != new.skeleton():
        return None
    lines: list[str] = []
    for before, after in zip(old.sets, new.sets, strict=True):
        lines.extend(_element_diff(new.table, before, after))
    for mb, ma in zip(old.maps, new.maps, strict=True):
        lines.extend(_map_diff(new.table, mb, ma))
    return "".join(line + "\n" for line in lines)


def _map_diff(table: str, before: NftMap, after: NftMap) -> list[str]:
    """One transaction's worth, in the order nft needs: new profiles (set, elements, chain, rule), then
    the map elements (a changed verdict or comment is a delete by key and an add), then the profiles
    no element jumps to any more (chain first: its rule refers to the set)."""
    if before.elements is after.elements and before.profiles is after.profiles:
        return []
    lines: list[str] = []
    what = f'comment "{after.profile_comment}";'
    for name in sorted(after.profiles.keys() - before.profiles.keys()):
        p = after.profiles[name]
        lines += [
            f"add set inet {table} {name} {{ type {after.profile_type}; flags interval; {what} }}",
            f"add element inet {table} {name} {{ {', '.join(p.elements)} }}",
            f"add chain inet {table} {name} {{ {what} }}",
            f"add rule inet {table} {name} {after.profile_match} @{name} counter accept",
        ]
    old, new = _changed_middle(before.elements, after.elements)
    old_map, new_map = {e[0]: e for e in old}, {e[0]: e for e in new}
    gone = [e[0] for e in old if new_map.get(e[0]) != e]
    added = [e for e in new if old_map.get(e[0]) != e]
    if gone:
        lines.append(f"delete element inet {table} {before.name} {{ {', '.join(gone)} }}")
    if added:
        items = ", ".join(f'{k} comment "{c}" : jump {p}' if c else f"{k} : jump {p}" for k, c, p in added)
        lines.append(f"add element inet {table} {after.name} {{ {items} }}")
    for name in sorted(before.profiles.keys() - after.profiles.keys()):
        lines += [f"delete chain inet {table} {name}", f"delete set inet {table} {name}"]
    return lines


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


Elements = TypeVar("Elements", tuple[tuple[str, str], ...], tuple[MapElement, ...])


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
