"""nftables text of a `Ruleset`: the full table as one transaction, or an element-only update."""

from __future__ import annotations

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
        ip=IP,
        nfproto=NFPROTO,
        denies=DENIES,
        counters=[name for name, _ in DENIES],
    )


def render_element_update(old: Ruleset, new: Ruleset) -> str | None:
    """An `nft -f` script changing only set elements, or None when the table's skeleton changed."""
    if old.skeleton() != new.skeleton():
        return None
    lines: list[str] = []
    for before, after in zip(old.sets, new.sets, strict=True):
        lines.extend(_element_diff(new.table, before, after))
    return "".join(line + "\n" for line in lines)


def _element_diff(table: str, before: NftSet, after: NftSet) -> list[str]:
    old, new = dict(before.elements), dict(after.elements)
    gone = [k for k in old if k not in new or old[k] != new[k]]
    added = [k for k in new if k not in old or old[k] != new[k]]
    lines = []
    if gone:
        lines.append(f"delete element inet {table} {before.name} {{ {', '.join(gone)} }}")
    if added:
        items = ", ".join(f'{k} comment "{new[k]}"' if new[k] else k for k in added)
        lines.append(f"add element inet {table} {after.name} {{ {items} }}")
    return lines
