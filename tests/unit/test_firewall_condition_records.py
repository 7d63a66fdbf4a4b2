"""`ConditionRecords` gives what `conditions_of` gives after any change, re-making only the records of
changed objects (the rest, where they keep their place, are the very same records)."""

from __future__ import annotations

from fabric.core.policy.incremental import PolicyCompiler
from fabric.firewall.sync import ConditionRecords, conditions_of
from tests.unit.policy_helpers import lb
from tests.unit.test_policy_incremental import NETS


def test_records_follow_changes_and_keep_unchanged_ones() -> None:
    services = [lb(f"s{i}", [f"203.0.113.{i}"], [{"port": 443}]) for i in range(1, 20)]
    compiler, records = PolicyCompiler(NETS, "boundary"), ConditionRecords()
    first = records(compiler.sync(services))
    assert first == conditions_of(compiler.compiled())
    steps = [
        [*services[:5], lb("s6", ["203.0.113.6"], [{"port": 70000}]), *services[6:]],  # one turns invalid
        [*services[:5], *services[6:]],  # one deleted
        [*services[:5], *services[6:], lb("new", ["203.0.113.99"], [{"port": 80}])],  # one added
    ]
    before = first
    for listing in steps:
        got = records(compiler.sync(listing))
        assert got == conditions_of(compiler.compiled())
        # Records are found by position: an unchanged object at the same place keeps its record.  (A
        # newly rejected object moves to the end of the merge order and shifts those after it.)
        changed = {"Service/app/s6", "Service/app/new"}
        places = zip(before, got, strict=False)
        remade = [r.object for b, r in places if b.object == r.object not in changed and b is not r]
        assert not remade, remade
        kept = {r.object: r for r in before}
        assert sum(1 for r in got if kept.get(r.object) is r) >= len(got) - 4  # s6 and the 3 it shifted
        before = got
