"""Real packets through the loaded ruleset: client / firewall / server namespaces with real TCP and UDP
servers.  The verdict of every flow must equal what `explain` says, and (for random clusters) what an
independent reference evaluator of the Kubernetes rules says."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric.adapters.nft import NftTable
from fabric.core.policy.explain import Flow, explain
from fabric.core.policy.incremental import PolicyCompiler
from fabric.core.policy.manifests import flatten
from fabric.errors import ApplyError
from fabric.firewall.pipeline import compile_manifests, parse_prefixes
from tests.integration.firewall.conftest import Trio
from tests.unit.policy_helpers import CLUSTER, compiled
from tests.unit.policy_random import clusters, flows
from tests.unit.policy_reference import reference_verdict

pytestmark = pytest.mark.needs("netns", "nft")
SHOP = Path(__file__).parents[2] / "data" / "k8s" / "shop"
PREFIXES = parse_prefixes(["10.244.0.0/16", "2001:db8:10::/56"])

SHOP_FLOWS = [
    ("198.51.100.7", "10.244.1.10", 8080, "TCP"),  # named port http, partner block
    ("198.51.100.200", "10.244.1.10", 8080, "TCP"),  # in the except
    ("192.0.2.9", "10.244.1.10", 9005, "TCP"),  # endPort range
    ("192.0.2.9", "10.244.1.10", 9300, "TCP"),
    ("192.0.2.9", "203.0.113.10", 443, "TCP"),  # LB inside its source range
    ("198.51.100.7", "203.0.113.10", 443, "TCP"),  # LB outside its source range
    ("192.0.2.9", "203.0.113.10", 443, "UDP"),
    ("198.51.100.7", "203.0.113.11", 8443, "TCP"),  # LB without source ranges
    ("198.51.100.7", "203.0.113.11", 8080, "TCP"),
    ("10.244.1.20", "203.0.113.50", 873, "TCP"),  # egress allowed
    ("10.244.1.20", "203.0.113.51", 873, "TCP"),
    ("10.244.1.30", "198.51.100.7", 5353, "UDP"),  # dns-anywhere egress
    ("2001:db8:99::1", "2001:db8:10::1e", 5353, "UDP"),  # IPv6 protocol-only port
    ("2001:db8:99::1", "2001:db8:10::1e", 80, "TCP"),
    ("2001:db8:aa::1", "2001:db8:ffff::10", 443, "TCP"),
    ("2001:db8:99::1", "2001:db8:ffff::10", 443, "TCP"),
    ("2001:db8:10::a", "2001:db8:99::1", 443, "TCP"),  # IPv6 egress of an unselected pod
]


def _expected(policy, flows_: list[tuple[str, str, int, str]]) -> list[bool]:
    return [
        explain(policy, Flow(ipaddress.ip_address(s), ipaddress.ip_address(d), p, proto.lower())).verdict
        == "allow"
        for s, d, p, proto in flows_
    ]


@pytest.mark.parametrize("isolation", ["boundary", "kubernetes"])
def test_shop_packets_match_explain(trio: Trio, isolation: str) -> None:
    policy, ruleset = compile_manifests([SHOP], PREFIXES, isolation)  # type: ignore[arg-type]
    assert trio.table.apply(ruleset).mode in ("full", "unchanged")
    expected = _expected(policy, SHOP_FLOWS)
    assert any(expected) and not all(expected)
    got = trio.probe(SHOP_FLOWS)
    mismatches = [(f, e) for f, e, g in zip(SHOP_FLOWS, expected, got, strict=True) if e != g]
    assert not mismatches, f"packets disagree with explain (flow, explain says allow): {mismatches}"


@pytest.mark.parametrize("isolation", ["boundary", "kubernetes"])
def test_a_load_balancer_ip_opens_only_its_services_ports_in_both_modes(trio: Trio, isolation: str) -> None:
    # Service shop/api: tcp/8443 on 203.0.113.11, no source ranges.  Nothing else reaches the address,
    # in kubernetes mode too ("not isolated" is a pod's default, not a load-balancer address's).
    _, ruleset = compile_manifests([SHOP], PREFIXES, isolation)  # type: ignore[arg-type]
    assert trio.table.apply(ruleset).mode in ("full", "unchanged")
    flows = [
        ("198.51.100.7", "203.0.113.11", 8443, "TCP"),
        ("198.51.100.7", "203.0.113.11", 8080, "TCP"),
        ("198.51.100.7", "203.0.113.11", 8443, "UDP"),
        ("198.51.100.7", "203.0.113.11", 22, "TCP"),
    ]
    assert trio.probe(flows) == [True, False, False, False]


RECIPES = Path(__file__).parents[2] / "data" / "k8s" / "recipes"
# (flow, verdict in boundary mode) for the recipe collection's and charts' shapes in tests/data/k8s/recipes
RECIPE_FLOWS = [
    (("198.51.100.7", "203.0.113.10", 80, "TCP"), True),  # ingress-nginx controller Service, http
    (("198.51.100.7", "203.0.113.10", 443, "TCP"), True),  # https
    (("198.51.100.7", "203.0.113.10", 22, "TCP"), False),  # no other port of the load-balancer IP
    (("198.51.100.7", "203.0.113.11", 8443, "TCP"), True),  # api-public, inside its source range
    (("192.0.2.9", "203.0.113.11", 8443, "TCP"), False),  # outside it
    (("192.0.2.9", "10.244.2.20", 8080, "TCP"), True),  # frontend from the internet
    (("192.0.2.9", "10.244.2.10", 8080, "TCP"), False),  # the API only from the frontend (a pod)
    (("198.51.100.7", "10.244.2.10", 9445, "TCP"), True),  # partner webhooks, endPort range
    (("198.51.100.7", "10.244.2.10", 9451, "TCP"), False),  # past endPort
    (("10.244.2.10", "198.51.100.7", 443, "TCP"), True),  # backend's HTTPS egress
    (("10.244.2.10", "198.51.100.7", 80, "TCP"), False),
    (("2001:db8:10::2:10", "2001:db8:99::1", 443, "TCP"), True),  # the same over IPv6
    (("10.244.2.20", "198.51.100.7", 443, "TCP"), False),  # the frontend: default-deny egress
]


@pytest.mark.parametrize("isolation", ["boundary", "kubernetes"])
def test_recipes_and_chart_manifests_compile_load_and_decide_as_kubernetes_says(
    trio: Trio, isolation: str
) -> None:
    policy, ruleset = compile_manifests([RECIPES], PREFIXES, isolation)  # type: ignore[arg-type]
    assert policy.conditions and all(c.accepted for c in policy.conditions), policy.conditions
    assert trio.table.apply(ruleset).mode in ("full", "unchanged")  # `nft -c`, then one transaction
    flows_ = [f for f, _ in RECIPE_FLOWS]
    objects = flatten(d for f in sorted(RECIPES.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()))
    cluster = ["10.244.0.0/16", "2001:db8:10::/56"]
    want = [reference_verdict(objects, cluster, isolation, s, d, p, proto) for s, d, p, proto in flows_]
    assert _expected(policy, flows_) == want
    if isolation == "boundary":
        assert want == [verdict for _, verdict in RECIPE_FLOWS]
    got = trio.probe(flows_)
    assert got == want, [(f, w, g) for f, w, g in zip(flows_, want, got, strict=True) if w != g]


def _blocks(listing: str) -> list[str]:
    """The table's sets, maps and chains as text, sorted: nft lists them in the order they were made,
    and an element-only update makes its new profiles after everything else."""
    body = listing.strip().split("\n", 1)[1].rsplit("}", 1)[0]
    return sorted(block.strip() for block in body.split("\n\n"))


def test_element_only_update_adds_and_drops_profiles_as_a_full_load_would(trio: Trio) -> None:
    objects = [o for p in sorted(SHOP.glob("*.yaml")) for o in flatten(yaml.safe_load_all(p.read_text()))]
    compiler = PolicyCompiler(PREFIXES, "boundary")
    compiler.sync(objects)
    before = compiler.ruleset()
    trio.table.last = None
    assert trio.table.apply(before).mode == "full"
    # shop/api moves from 8443 to 8080: its old profile (8443 from anywhere) is used by nobody else
    moved = [
        {**o, "spec": {**o["spec"], "ports": [{"port": 8080}]}} if o["metadata"]["name"] == "api" else o
        for o in objects
    ]
    compiler.sync(moved)
    after = compiler.ruleset()
    old, new = before.map("allow_in4").profiles, after.map("allow_in4").profiles
    ((added,), (dropped,)) = (new.keys() - old.keys(), old.keys() - new.keys())
    applied = trio.table.apply(after)
    assert applied.mode == "elements" and "table inet fabric {" not in applied.script
    assert f"add chain inet fabric {added}" in applied.script
    assert f"delete chain inet fabric {dropped}\ndelete set inet fabric {dropped}" in applied.script
    api = [("198.51.100.7", "203.0.113.11", 8080, "TCP"), ("198.51.100.7", "203.0.113.11", 8443, "TCP")]
    assert trio.probe(api) == [True, False]
    incremental = trio.table.listing(stateless=True)
    assert dropped not in incremental and f"jump {added}" in incremental
    trio.table.last = None
    assert trio.table.apply(after).mode == "full"
    assert _blocks(trio.table.listing(stateless=True)) == _blocks(incremental)


def test_bad_script_leaves_the_old_table(trio: Trio) -> None:
    _, ruleset = compile_manifests([SHOP], PREFIXES, "boundary")
    trio.table.apply(ruleset)
    before = trio.table.listing()
    broken = dataclasses.replace(
        ruleset, sets=(dataclasses.replace(ruleset.sets[0], type="no_such_type"), *ruleset.sets[1:])
    )
    with pytest.raises(ApplyError) as err:
        trio.table.apply(broken)
    assert err.value.phase == "nft:check" and not err.value.retryable
    assert trio.table.listing() == before
    other = trio.fw.exec(["nft", "list", "tables"]).stdout
    assert other.strip() == "table inet fabric"


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    objects=clusters(),
    sample=st.lists(flows().filter(lambda f: f[3] != "SCTP"), min_size=6, max_size=10),
    isolation=st.sampled_from(["boundary", "kubernetes"]),
)
def test_random_clusters_packets_match_reference(
    trio: Trio, objects: list, sample: list, isolation: str
) -> None:
    from fabric.core.policy.ruleset import build_ruleset

    policy = compiled(objects, isolation)  # type: ignore[arg-type]
    trio.table.apply(build_ruleset(policy))
    want = [reference_verdict(objects, CLUSTER, isolation, s, d, p, proto) for s, d, p, proto in sample]
    assert _expected(policy, sample) == want
    got = trio.probe(sample)
    assert got == want, [(f, w, g) for f, w, g in zip(sample, want, got, strict=True) if w != g]


def test_load_failing_with_a_valid_script_is_retryable(trio: Trio, tmp_path: Path) -> None:
    """A full load the kernel refuses once although `nft -c` accepts the script is worth retrying.

    Fault injection: a wrapper in front of the real nft refuses the first load (`-f` without `-c`),
    standing in for a load interrupted by the kernel; every other call, and the retry, run real nft.
    """
    _, ruleset = compile_manifests([SHOP], PREFIXES, "boundary")
    marker = tmp_path / "refused-once"
    wrapper = tmp_path / "nft-once"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-f" ] && [ ! -e {marker} ]; then touch {marker}; echo interrupted >&2; exit 1; fi\n'
        'exec nft "$@"\n'
    )
    wrapper.chmod(0o755)
    trio.table.remove()  # also makes the module's table forget what it loaded
    table = NftTable(["ip", "netns", "exec", trio.fw.name], nft=str(wrapper))
    with pytest.raises(ApplyError) as err:
        table.apply(ruleset)
    assert err.value.phase == "nft:load" and err.value.retryable and "interrupted" in str(err.value)
    assert "table inet fabric" not in trio.fw.exec(["nft", "list", "tables"]).stdout
    assert table.apply(ruleset).mode == "full"
    assert trio.probe([("198.51.100.7", "10.244.1.10", 8080, "TCP")]) == [True]
