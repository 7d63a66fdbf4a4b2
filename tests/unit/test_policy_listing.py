"""`PolicyCompiler.sync` over a listing edited in place between syncs (as a watch cache does: the same
dicts for unchanged objects) equals a fresh compiler given the same listing, whichever way the change
is found (by position or by identity), and every compiled policy read later is still what it was; and
the element-only update of any change, applied to the old elements, gives exactly the new ones."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from fabric.core.policy.incremental import PolicyCompiler
from fabric.core.policy.ruleset import Ruleset
from fabric.render.nft import render_element_update
from tests.unit.policy_helpers import lb, pod, policy
from tests.unit.test_policy_incremental import NETS

POOL = [
    *(
        lb(f"s{i}", [f"203.0.113.{i}"], [{"port": 443}], ["192.0.2.0/25"] if i % 2 else None)
        for i in range(6)
    ),
    lb("s1", ["203.0.113.1"], [{"port": 8443}]),  # the same id as s1, another port
    lb("s2", ["203.0.113.2"], [{"port": 70000}]),  # the same id as s2, rejected
    pod("web", ["10.244.1.10"], {"app": "web"}, http=(8080, "TCP")),
    pod("web", ["10.244.1.11"], {"app": "web"}, http=(8081, "TCP")),
    policy(
        "named", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": "http"}]}]}
    ),
    {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "app"}},
]

EDITS = st.lists(
    st.tuples(
        st.sampled_from(["set", "insert", "delete", "copy", "wrap"]),
        st.integers(0, 40),
        st.sampled_from(range(len(POOL))),
    ),
    max_size=4,
)


def _ids(entry: dict[str, Any]) -> dict[str, int]:
    """Object id → `id()` of the manifests in one entry (`List`s unpacked)."""
    if entry.get("kind") == "List":
        return {k: v for item in entry["items"] for k, v in _ids(item).items()}
    return {f"{entry['kind']}/{entry['metadata']['name']}": id(entry)}


def _edit(listing: list[Any], edits: list[tuple[str, int, int]]) -> None:
    """Edits in place; one that would list two different manifests of one object is skipped (a cache
    keys objects by kind, namespace and name; the very same dict twice is allowed)."""
    for what, where, which in edits:
        at = where % (len(listing) + 1)
        if what == "insert" or not listing:
            new, others = POOL[which], listing
        else:
            at %= len(listing)
            others = listing[:at] + listing[at + 1 :]
            if what == "set":
                new = POOL[which]
            elif what == "delete":
                del listing[at]
                continue
            elif what == "copy":  # an equal, new dict
                new = dict(listing[at])
            else:  # a `List` holding the entry
                new = {"kind": "List", "items": [listing[at]]}
        held = {k: v for entry in others for k, v in _ids(entry).items()}
        if any(held.get(k, v) != v for k, v in _ids(new).items()):
            continue
        if what == "insert" or not listing:
            listing.insert(at, new)
        else:
            listing[at] = new


Table = dict[str, dict[str, str]]
"""A model of the table: every set and map by name, its elements as key -> comment (map elements:
`comment : jump profile`), and every chain by name as `chain:<name>` -> {rule: ""}."""


def _elements(ruleset: Ruleset) -> Table:
    table = {s.name: dict(s.elements) for s in ruleset.sets}
    for m in ruleset.maps:
        table[m.name] = {k: f"{c} : jump {p}" for k, c, p in m.elements}
        for name, profile in m.profiles.items():
            table[name] = dict.fromkeys(profile.elements, "")
            table[f"chain:{name}"] = {f"{m.profile_match} @{name} counter accept": ""}
    return table


def _apply(update: str, before: Ruleset) -> Table:
    """The update script run on a model of the table (as nft would, statement by statement: an
    element must not be there already, a set or chain must exist to be filled and be unused to go)."""
    table = _elements(before)
    for line in update.splitlines():
        verb, what, _, _, name, *rest = line.split(" ", 5)
        body = rest[0] if rest else ""
        if what == "set":
            if verb == "add":
                assert name not in table, line
                table[name] = {}
            else:
                assert f"chain:{name}" not in table and table.pop(name) is not None, line
        elif what == "chain":
            if verb == "add":
                assert f"chain:{name}" not in table, line
                table[f"chain:{name}"] = {}
            else:
                jumps = {
                    v.split(" : jump ")[1] for t in table.values() for v in t.values() if " : jump " in v
                }
                assert name not in jumps, line  # nft refuses deleting a chain still jumped to
                del table[f"chain:{name}"]
        elif what == "rule":
            assert body.endswith(f"@{name} counter accept") and name in table, line
            table[f"chain:{name}"][body] = ""
        else:
            for item in body.strip("{} ").split(", "):
                head, _, jump = item.partition(" : jump ")
                key, _, comment = head.partition(' comment "')
                comment = comment.rstrip('"') + (f" : jump {jump}" if jump else "")
                if verb == "delete":
                    del table[name][key]
                else:
                    assert key not in table[name], (key, line)  # nft refuses adding a present element
                    if " : jump " in comment:
                        assert f"chain:{comment.split(' : jump ')[1]}" in table, line  # the chain exists
                    table[name][key] = comment
    return table


@settings(max_examples=200, deadline=None)
@given(
    start=st.lists(st.sampled_from(range(len(POOL))), max_size=8),
    steps=st.lists(EDITS, min_size=1, max_size=5),
    isolation=st.sampled_from(["boundary", "kubernetes"]),
)
# Found by this test: a held service that becomes rejected keeps its fragment, so the merge order must
# be redone (rejected objects go last) although no object came or went.
@example(
    start=[],
    steps=[[("set", 0, 2), ("insert", 1, 3), ("insert", 0, 2)], [("delete", 0, 0), ("set", 0, 7)]],
    isolation="boundary",
)
def test_syncs_of_a_listing_edited_in_place(start: list[int], steps: list[Any], isolation: Any) -> None:
    listing: list[Any] = []
    _edit(listing, [("insert", n, i) for n, i in enumerate(start)])
    compiler = PolicyCompiler(NETS, isolation)
    kept = [(compiler.sync(listing), list(listing))]  # compiled policies, read only at the end
    before = compiler.ruleset()
    for edits in steps:
        _edit(listing, edits)
        kept.append((compiler.sync(listing), list(listing)))
        fresh = PolicyCompiler(NETS, isolation)
        fresh.sync(list(listing))
        after = compiler.ruleset()
        assert after == fresh.ruleset()
        assert sorted(compiler.compiled().conditions, key=repr) == sorted(
            fresh.compiled().conditions, key=repr
        )
        update = render_element_update(before, after)
        assert update is not None or before.skeleton() != after.skeleton()
        if update is not None:
            assert _apply(update, before) == _elements(after)
        before = after
    for compiled, objects in reversed(kept):  # each still what it was when made
        want = PolicyCompiler(NETS, isolation).sync(objects)
        assert list(compiled.conditions) == list(want.conditions)
        assert sorted(compiled.allows) == sorted(want.allows)
