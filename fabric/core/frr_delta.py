"""The FRR commands that take a running config from one rendered frr.conf to another (pure).

Our frr.conf is FRR's canonical form (the goldens prove `show running-config` prints it back line for
line), so two of them can be compared as trees: top-level lines and contexts (`vrf X`, `router bgp ...`,
`route-map ...`, `interface ...`), contexts holding lines and sub-contexts (`address-family ...`), each
context closed by FRR's own `exit` / `exit-vrf` / `exit-address-family`.  `frr_delta(old, new)` turns
the difference into one batch of configuration commands for ``vtysh -f``:

1. every `vrf` context that goes away first loses its `vni` (bgpd refuses `no router bgp ASN vrf X`
   while X's L3VNI is bound: `% Please unconfigure l3vni N`, FRR 8.4);
2. lines that leave contexts that stay, last line first (an address-family's `neighbor X ...` before
   the `neighbor X interface` that created X; a member before its peer-group);
3. whole contexts and top-level lines that go away, last first (VRF instances of `router bgp` before
   the default instance that comes before them);
4. what is added, in the new file's order (FRR's canonical order: a `vrf` before its `router bgp`,
   peer-groups before members, a context's own lines before its address-families).

Removals come before additions, so a line that replaces another (`maximum-prefix 513` → `1`) is
negated and then set.  A negation is `no <line>` (or the line without its `no `).  What this module
cannot express raises `DeltaUnsupported`; what it expresses wrongly is caught by the caller's exact
comparison of the running config afterwards (fabric.adapters.frr falls back to frr-reload.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLOSERS = frozenset({"exit", "exit-vrf", "exit-address-family"})
# Lines FRR prints that are not configuration (or that vtysh handles itself).
_SKIPPED = ("frr version ",)
# Top-level settings that cannot change in a running FRR (a daemon restart is needed).
_FIXED = ("frr defaults ",)
_HEADER = re.compile(r"\A(Building configuration\.\.\.\n)?\n?(Current configuration:\n)?")


class DeltaUnsupported(ValueError):
    """The two configs hold something this module does not turn into commands."""


@dataclass(frozen=True)
class Node:
    """A configuration line; a context when `close` is set (its children are the lines inside)."""

    line: str
    children: tuple[Node, ...] = ()
    close: str | None = None

    @property
    def is_context(self) -> bool:
        return self.close is not None

    def block(self, depth: int = 0) -> list[str]:
        """The node as configuration lines, indented from `depth`."""
        pad = " " * depth
        lines = [pad + self.line]
        for child in self.children:
            lines += child.block(depth + 1)
        if self.close is not None:
            lines.append(pad + self.close)
        return lines


def parse(text: str) -> tuple[Node, ...]:
    """The tree of an frr.conf in canonical form; raises `DeltaUnsupported` on anything else."""
    tokens: list[tuple[int, str]] = []
    for raw in text.splitlines():
        body = raw.lstrip(" ")
        if not body or body == "!" or (raw == body and (body == "end" or body.startswith(_SKIPPED))):
            continue
        if "\t" in raw[: len(raw) - len(body) + 1]:
            raise DeltaUnsupported(f"tab in indentation: {raw!r}")
        tokens.append((len(raw) - len(body), body.rstrip()))
    nodes, index = _children(tokens, 0, 0)
    if index != len(tokens):
        raise DeltaUnsupported(f"unexpected line {tokens[index][1]!r}")
    return nodes


def _children(tokens: list[tuple[int, str]], index: int, depth: int) -> tuple[tuple[Node, ...], int]:
    """Nodes at `depth` from `index` until a shallower line or a closer at depth - 1."""
    nodes: list[Node] = []
    while index < len(tokens):
        level, text = tokens[index]
        if level < depth or (text in CLOSERS and level == depth - 1):
            break
        if level > depth or text in CLOSERS:
            raise DeltaUnsupported(f"unexpected indentation or closer: {text!r}")
        index += 1
        nxt = tokens[index] if index < len(tokens) else None
        opens = nxt is not None and (nxt[0] > depth or (nxt[0] == depth and nxt[1] in CLOSERS))
        if not opens:
            nodes.append(Node(text))
            continue
        inner, index = _children(tokens, index, depth + 1)
        closer = tokens[index] if index < len(tokens) else (-1, "")
        if closer[0] != depth or closer[1] not in CLOSERS:
            raise DeltaUnsupported(f"context {text!r} is not closed")
        nodes.append(Node(text, inner, closer[1]))
        index += 1
    return tuple(nodes), index


def negate(line: str) -> str:
    """The command that undoes `line`."""
    return line[3:] if line.startswith("no ") else f"no {line}"


def frr_delta(old: str, new: str) -> str:
    """Commands (``vtysh -f`` input) taking FRR from running `old` to running `new`; '' when equal."""
    before, after = parse(old), parse(new)
    _check_fixed(before, after)
    _unique(before)
    _unique(after)
    kept = {n.line: n for n in after}
    gone = [n for n in before if _leaves(n, kept)]
    gone_lines = {n.line for n in gone}
    lines: list[str] = []
    for node in gone:  # 1: a leaving VRF unbinds its L3VNI first
        vnis = [c.line for c in node.children if c.line.startswith("vni ")]
        if node.line.startswith("vrf ") and node.is_context and vnis:
            lines += [node.line, *(f" {negate(v)}" for v in vnis), node.close or "exit-vrf"]
    for node in reversed(before):  # 2: lines leaving contexts that stay
        if node.line not in gone_lines and node != kept[node.line]:
            lines += _inner_removals(node, kept[node.line], 0)
    for node in reversed(gone):  # 3: whole contexts and lines
        lines.append(negate(node.line))
    old_by_line = {n.line: n for n in before}
    for node in after:  # 4: additions in the new file's order
        prior = old_by_line.get(node.line)
        if prior is None or prior.line in gone_lines:
            lines += node.block()
        elif prior != node:
            lines += _inner_additions(prior, node, 0)
    return "".join(f"{line}\n" for line in lines)


def _leaves(node: Node, kept: dict[str, Node]) -> bool:
    """Whether `node` is absent from the new config (or turns from a line into a context or back)."""
    other = kept.get(node.line)
    return other is None or other.is_context != node.is_context


def _inner_removals(old: Node, new: Node, depth: int) -> list[str]:
    """Enter `old` and undo what `new` lacks (sub-contexts first, last line first); [] if nothing."""
    kept = {c.line: c for c in new.children}
    body: list[str] = []
    for child in reversed(old.children):
        other = kept.get(child.line)
        if other is not None and other.is_context == child.is_context:
            if other != child and child.is_context:
                body += _inner_removals(child, other, depth + 1)
        elif child.is_context:  # a sub-context that leaves: empty it (FRR has no `no address-family`)
            body += _inner_removals(child, Node(child.line, (), child.close), depth + 1)
        else:
            body.append(" " * (depth + 1) + negate(child.line))
    if not body:
        return []
    pad = " " * depth
    return [pad + old.line, *body, pad + (old.close or "exit")]


def _inner_additions(old: Node, new: Node, depth: int) -> list[str]:
    """Enter `new` and add what `old` lacks, in `new`'s order; [] if nothing."""
    had = {c.line: c for c in old.children}
    body: list[str] = []
    for child in new.children:
        prior = had.get(child.line)
        if prior is None or prior.is_context != child.is_context:
            body += child.block(depth + 1)
        elif prior != child and child.is_context:
            body += _inner_additions(prior, child, depth + 1)
    if not body:
        return []
    pad = " " * depth
    return [pad + new.line, *body, pad + (new.close or "exit")]


def _unique(nodes: tuple[Node, ...]) -> None:
    """Lines must be unique within a context (they are the keys of the comparison)."""
    seen: set[str] = set()
    for node in nodes:
        if node.line in seen:
            raise DeltaUnsupported(f"line repeated in one context: {node.line!r}")
        seen.add(node.line)
        _unique(node.children)


def _check_fixed(before: tuple[Node, ...], after: tuple[Node, ...]) -> None:
    old = sorted(n.line for n in before if n.line.startswith(_FIXED))
    new = sorted(n.line for n in after if n.line.startswith(_FIXED))
    if old != new:
        raise DeltaUnsupported(f"needs an FRR restart to change: {old} -> {new}")


def running_as_file(show: str) -> str:
    """`show running-config` output as our frr.conf would print it: without vtysh's header, the
    `frr version` line FRR adds and the `!` lines before the first setting."""
    body = _HEADER.sub("", show, count=1)
    lines = [line for line in body.splitlines(keepends=True) if not line.startswith(_SKIPPED)]
    return "".join(lines).lstrip("!\n")


def same_config(running: str, candidate: str) -> bool:
    """Whether FRR's `show running-config` holds exactly `candidate`, in any top-level order.

    Line for line within each context, but the order of top-level lines and contexts is free: FRR
    prints route-maps in an order that depends on history (a route-map deleted and re-created before
    bgpd's delayed route-map processing keeps its old place), and that order carries no meaning.
    """
    try:
        shown, wanted = parse(running_as_file(running)), parse(candidate)
    except DeltaUnsupported:
        return False
    return sorted(shown, key=_order) == sorted(wanted, key=_order)


def config_difference(running: str, candidate: str, limit: int = 3) -> str:
    """Why `same_config` says no, for a log line: the first top-level blocks only FRR shows (``+``)
    and only the candidate holds (``-``), each as its lines joined by `` | ``."""
    try:
        shown, wanted = parse(running_as_file(running)), parse(candidate)
    except DeltaUnsupported as exc:
        return f"not comparable: {exc}"
    extra = [n for n in shown if n not in wanted]
    missing = [n for n in wanted if n not in shown]
    parts = [f"+ {' | '.join(n.block())}" for n in extra[:limit]]
    parts += [f"- {' | '.join(n.block())}" for n in missing[:limit]]
    return "; ".join(parts) or "same blocks"


def _order(node: Node) -> tuple[str, ...]:
    return tuple(node.block())
