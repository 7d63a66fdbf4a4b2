"""`PolicyCompiler` (incremental) equals the batch compiler + ruleset builder over the same objects, after
any sequence of syncs; one changed Service touches only its own elements; Pods recompile the policies of
their namespace."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fabric.core.policy.compiler import compile_policy
from fabric.core.policy.incremental import PolicyCompiler
from fabric.core.policy.ir import CompiledPolicy
from fabric.core.policy.manifests import parse_objects
from fabric.core.policy.ruleset import Ruleset, build_ruleset
from tests.unit.policy_helpers import CLUSTER, lb, pod, policy
from tests.unit.policy_random import clusters

NETS = [ipaddress.ip_network(c) for c in CLUSTER]
EXTRAS = [
    lb("twin", ["203.0.113.10"], [{"port": 443}], ["198.51.100.0/24"]),  # shares an address with `svc`
    lb("next", ["203.0.113.11"], [{"port": 443}], ["192.0.2.0/25"]),  # a neighbour (guards merge)
    lb("open", ["203.0.113.12", "2001:db8:ffff::12"], [{"port": 80}, {"port": 81}]),
    lb("bad", ["203.0.113.13"], [{"port": 0}]),  # rejected: its address is closed in kubernetes mode
    policy("broken", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}),
    {"kind": "Service", "metadata": {"name": "plain", "namespace": "app"}, "spec": {"ports": [{"port": 80}]}},
]


@st.composite
def object_sets(draw: Any) -> list[dict[str, Any]]:
    return draw(clusters()) + draw(st.lists(st.sampled_from(EXTRAS), unique_by=id, max_size=len(EXTRAS)))


def _batch(objects: list[dict[str, Any]], isolation: Any) -> tuple[CompiledPolicy, Ruleset]:
    compiled = compile_policy(parse_objects(objects), NETS, isolation)
    return compiled, build_ruleset(compiled)


def _same(got: CompiledPolicy, want: CompiledPolicy) -> None:
    assert sorted(got.allows) == sorted(want.allows)
    assert sorted(got.guards) == sorted(want.guards)
    assert got.cluster == want.cluster
    assert {k: {a: sorted(o) for a, o in v.items()} for k, v in got.isolated.items() if v} == {
        k: {a: sorted(o) for a, o in v.items()} for k, v in want.isolated.items() if v
    }
    assert sorted(got.conditions, key=repr) == sorted(want.conditions, key=repr)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(object_sets(), min_size=1, max_size=4),
    isolation=st.sampled_from(["boundary", "kubernetes"]),
)
def test_any_sequence_of_syncs_equals_the_batch_compiler(
    steps: list[list[dict[str, Any]]], isolation: Any
) -> None:
    compiler = PolicyCompiler(NETS, isolation)
    for objects in steps:
        got = compiler.sync(objects)
        want, ruleset = _batch(objects, isolation)
        _same(got, want)
        assert compiler.ruleset() == ruleset


def test_update_and_delete_by_id() -> None:
    web = pod("web", ["10.244.1.10"], {"app": "web"})
    compiler = PolicyCompiler(NETS, "boundary")
    compiler.update([web, EXTRAS[2]])
    assert compiler.ruleset().set("allow_in4").elements == (
        ("203.0.113.12 . 6 . 80-81 . 0.0.0.0/0", "app/open (Service)"),
    )
    compiler.update(deleted=["Service/app/open"])
    assert compiler.ruleset().elements == 2  # the two cluster prefixes alone
    assert compiler.compiled().conditions == []


def test_one_changed_service_reformats_only_its_own_elements() -> None:
    services = [lb(f"s{i}", [f"203.0.113.{i}"], [{"port": 443}], ["192.0.2.0/25"]) for i in range(1, 50)]
    compiler = PolicyCompiler(NETS, "kubernetes")
    compiler.update(services)
    before = compiler.ruleset()
    changed = lb("s7", ["203.0.113.7"], [{"port": 8443}], ["192.0.2.0/25"])
    compiler.update([changed])
    after = compiler.ruleset()
    for old, new in zip(before.sets, after.sets, strict=True):
        if old.name in ("allow_in4_25", "guard_in4"):
            gone = set(old.elements) - set(new.elements)
            assert gone and all(key.startswith("203.0.113.7 ") for key, _ in gone), gone
        else:
            assert new.elements is old.elements, old.name  # the very same tuple: nothing re-formatted
    assert after == build_ruleset(
        compile_policy(parse_objects([*services[:6], changed, *services[7:]]), NETS, "kubernetes")
    )


def test_a_pod_change_recompiles_the_policies_of_its_namespace() -> None:
    named = policy(
        "named",
        {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": "http"}]}]},
    )
    compiler = PolicyCompiler(NETS, "boundary")
    compiled = compiler.update([pod("web", ["10.244.1.10"], {"app": "web"}), named])
    assert not compiled.allows and "no container port" in compiled.conditions[0].reason
    compiled = compiler.update([pod("web", ["10.244.1.10"], {"app": "web"}, http=(8080, "TCP"))])
    assert [(a.local, a.ports) for a in compiled.allows] == [
        (int(ipaddress.ip_address("10.244.1.10")), (8080, 8080))
    ]
    assert compiler.ruleset().set("allow_in4_any").elements == (
        ("10.244.1.10 . 6 . 8080", "app/named (NetworkPolicy)"),
    )


def test_an_object_that_turns_invalid_is_quarantined() -> None:
    compiler = PolicyCompiler(NETS, "kubernetes")
    compiler.update([lb("svc", ["203.0.113.10"], [{"port": 443}], ["192.0.2.0/25"])])
    compiled = compiler.update([lb("svc", ["203.0.113.10"], [{"port": 70000}], ["192.0.2.0/25"])])
    assert [(c.object, c.accepted) for c in compiled.conditions] == [("Service/app/svc", False)]
    assert "spec.ports.0.port" in compiled.conditions[0].reason
    assert not compiled.allows
    assert compiler.ruleset().set("guard_in4").elements == (
        ("203.0.113.10 . 0-255 . 0-65535", "app/svc (Service)"),
    )


def test_the_element_update_of_one_changed_service_names_only_its_elements() -> None:
    from fabric.render.nft import render_element_update

    services = [lb(f"s{i}", [f"203.0.113.{i}"], [{"port": 443}]) for i in range(1, 50)]
    compiler = PolicyCompiler(NETS, "boundary")
    compiler.update(services)
    before = compiler.ruleset()
    compiler.update([lb("s7", ["203.0.113.7"], [{"port": 8443}])])
    script = render_element_update(before, compiler.ruleset())
    assert script == (
        "delete element inet fabric allow_in4_any { 203.0.113.7 . 6 . 443 }\n"
        'add element inet fabric allow_in4_any { 203.0.113.7 . 6 . 8443 comment "app/s7 (Service)" }\n'
    )


def test_a_compiled_policy_stays_what_it_was_after_later_updates() -> None:
    compiler = PolicyCompiler(NETS, "boundary")
    first = compiler.update([EXTRAS[2]])
    compiler.update(deleted=["Service/app/open"])
    assert len(first.allows) == 4 and [c.object for c in first.conditions] == ["Service/app/open"]
    assert not compiler.compiled().allows
