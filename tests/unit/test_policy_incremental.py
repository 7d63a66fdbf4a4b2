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
    lb("next", ["203.0.113.11"], [{"port": 443}], ["192.0.2.0/25"]),  # a neighbour (closures merge)
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
    assert sorted(got.closures) == sorted(want.closures)
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
        assert profile_keys(compiler.ruleset()) == profile_keys(ruleset)


def profile_keys(ruleset: Ruleset) -> dict[str, tuple[str, ...]]:
    """Every profile's keys by name (profiles compare by name; this compares what they hold too)."""
    return {n: p.elements for m in ruleset.maps for n, p in m.profiles.items()}


def test_update_and_delete_by_id() -> None:
    web = pod("web", ["10.244.1.10"], {"app": "web"})
    compiler = PolicyCompiler(NETS, "boundary")
    compiler.update([web, EXTRAS[2]])
    allows = compiler.ruleset().map("allow_in4")
    name = allows.elements[0][2]
    assert allows.elements == (("203.0.113.12", "app/open (Service)", name),)
    assert len(name) == len("in4_") + 12 and allows.profiles[name].elements == ("6 . 80-81 . 0.0.0.0/0",)
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
        if old.name == "closed_in4":  # the whole address is closed: at most s7's own element changes
            changed_elements = set(old.elements) ^ set(new.elements)
            assert all(key.startswith("203.0.113.7 ") for key, _ in changed_elements), changed_elements
        else:
            assert new.elements is old.elements, old.name  # the very same tuple: nothing re-formatted
    for m, n in zip(before.maps, after.maps, strict=True):
        if m.name == "allow_in4":  # one element changed; its old profile is still used by the others
            assert [e for e in n.elements if e not in m.elements] == [
                ("203.0.113.7", "app/s7 (Service)", n.elements[6][2])
            ]
            assert len(m.profiles) == 1 and len(n.profiles) == 2 and m.profiles.keys() < n.profiles.keys()
        else:
            assert n.elements is m.elements and n.profiles is m.profiles, m.name
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
    allows = compiler.ruleset().map("allow_in4")
    name = allows.elements[0][2]
    assert allows.elements == (("10.244.1.10", "app/named (NetworkPolicy)", name),)
    assert allows.profiles[name].elements == ("6 . 8080 . 0.0.0.0/0",)


def test_an_object_that_turns_invalid_is_quarantined() -> None:
    compiler = PolicyCompiler(NETS, "kubernetes")
    compiler.update([lb("svc", ["203.0.113.10"], [{"port": 443}], ["192.0.2.0/25"])])
    compiled = compiler.update([lb("svc", ["203.0.113.10"], [{"port": 70000}], ["192.0.2.0/25"])])
    assert [(c.object, c.accepted) for c in compiled.conditions] == [("Service/app/svc", False)]
    assert "spec.ports.0.port" in compiled.conditions[0].reason
    assert not compiled.allows
    assert compiler.ruleset().set("closed_in4").elements == (
        ("203.0.113.10 . 0-255 . 0-65535", "app/svc (Service)"),
    )


def test_the_element_update_of_one_changed_service_names_only_its_elements() -> None:
    from fabric.render.nft import render_element_update

    services = [lb(f"s{i}", [f"203.0.113.{i}"], [{"port": 443}]) for i in range(1, 50)]
    compiler = PolicyCompiler(NETS, "boundary")
    compiler.update(services)
    before = compiler.ruleset()
    compiler.update([lb("s7", ["203.0.113.7"], [{"port": 8443}])])
    after = compiler.ruleset()
    (new,) = after.map("allow_in4").profiles.keys() - before.map("allow_in4").profiles.keys()
    kind = "inet_proto . inet_service . ipv4_addr"
    what = 'comment "ingress profile: protocol . port . source accepted";'
    script = render_element_update(before, after)
    # the new profile first, then the element jumping to it; the old profile is still used
    assert script == (
        f"add set inet fabric {new} {{ type {kind}; flags interval; {what} }}\n"
        f"add element inet fabric {new} {{ 6 . 8443 . 0.0.0.0/0 }}\n"
        f"add chain inet fabric {new} {{ {what} }}\n"
        f"add rule inet fabric {new} meta l4proto . th dport . ip saddr @{new} counter accept\n"
        "delete element inet fabric allow_in4 { 203.0.113.7 }\n"
        f'add element inet fabric allow_in4 {{ 203.0.113.7 comment "app/s7 (Service)" : jump {new} }}\n'
    )
    compiler.update([lb("s7", ["203.0.113.7"], [{"port": 443}])])
    back = render_element_update(after, compiler.ruleset())
    old = before.map("allow_in4").elements[6][2]
    # back to the shared profile: one element changes, and the profile nothing jumps to goes (chain first)
    assert back == (
        "delete element inet fabric allow_in4 { 203.0.113.7 }\n"
        f'add element inet fabric allow_in4 {{ 203.0.113.7 comment "app/s7 (Service)" : jump {old} }}\n'
        f"delete chain inet fabric {new}\n"
        f"delete set inet fabric {new}\n"
    )


def test_services_of_one_shape_share_one_profile() -> None:
    services = [lb(f"s{i}", [f"203.0.113.{i}"], [{"port": 80}, {"port": 443}]) for i in (1, 2)]
    compiler = PolicyCompiler(NETS, "boundary")
    compiler.sync(services)
    ruleset = compiler.ruleset()
    allows = ruleset.map("allow_in4")
    (name,) = allows.profiles
    assert allows.elements == (
        ("203.0.113.1", "app/s1 (Service)", name),
        ("203.0.113.2", "app/s2 (Service)", name),
    )
    assert allows.profiles[name].elements == ("6 . 80 . 0.0.0.0/0", "6 . 443 . 0.0.0.0/0")
    assert ruleset == build_ruleset(compile_policy(parse_objects(services), NETS, "boundary"))


def test_an_address_of_two_objects_has_one_element_and_the_union_profile() -> None:
    shared = [
        lb("a", ["203.0.113.5"], [{"port": 443}], ["192.0.2.0/25"]),
        lb("b", ["203.0.113.5"], [{"port": 443}, {"port": 8443}], ["192.0.2.128/25"]),
    ]
    compiler = PolicyCompiler(NETS, "boundary")
    compiler.sync(shared)
    allows = compiler.ruleset().map("allow_in4")
    (name,) = allows.profiles
    assert allows.elements == (("203.0.113.5", "app/a (Service) +1", name),)
    # the two /25 halves of 443 merge into one /24 piece: the union, not the pieces of each object
    assert allows.profiles[name].elements == ("6 . 443 . 192.0.2.0/24", "6 . 8443 . 192.0.2.128/25")
    alone = PolicyCompiler(NETS, "boundary")
    alone.sync(shared[:1])
    assert alone.ruleset().map("allow_in4").elements[0][2] != name


def test_a_compiled_policy_stays_what_it_was_after_later_updates() -> None:
    compiler = PolicyCompiler(NETS, "boundary")
    first = compiler.update([EXTRAS[2]])
    compiler.update(deleted=["Service/app/open"])
    assert len(first.allows) == 4 and [c.object for c in first.conditions] == ["Service/app/open"]
    assert not compiler.compiled().allows
