"""The firewall daemon's pure parts: configuration, the parse cache, rule counting, backoff, debounce."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from fabric.core.policy.manifests import flatten
from fabric.errors import ValidationError
from fabric.firewall.config import load_config
from fabric.firewall.loop import Backoff
from fabric.firewall.pipeline import compile_manifests, parse_prefixes
from fabric.firewall.sync import ParseCache, count_rules

EXAMPLE = Path(__file__).parents[2] / "templates" / "firewall.example.yaml"
SHOP = Path(__file__).parents[1] / "data" / "k8s" / "shop"


def test_config_file_and_env_overrides() -> None:
    env = {
        "FABRIC_FIREWALL_API__URL": "http://api:8080",
        "FABRIC_FIREWALL_NFT__EXEC_PREFIX": "[ip, netns, exec, fw]",
        "FABRIC_FIREWALL_DEBOUNCE": "0.5",
        "OTHER": "x",
    }
    cfg = load_config(EXAMPLE, env)
    assert cfg.name == "fw1" and cfg.api.url == "http://api:8080"
    assert cfg.nft.exec_prefix == ["ip", "netns", "exec", "fw"] and cfg.debounce == 0.5
    assert cfg.kube.kubeconfig == Path("/etc/fabric/kubeconfig")


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        load_config(EXAMPLE, {"FABRIC_FIREWALL_ISOLATION": "open"})
    assert "firewall.example.yaml: isolation" in exc.value.problems[0][0]
    with pytest.raises(ValidationError, match="debounce is greater than debounce_max"):
        load_config(EXAMPLE, {"FABRIC_FIREWALL_DEBOUNCE": "9"})
    with pytest.raises(ValidationError, match="api"):
        load_config(None, {"FABRIC_FIREWALL_NAME": "fw1"})


def _shop() -> list[dict[str, object]]:
    docs = [yaml.safe_load_all(p.read_text()) for p in sorted(SHOP.glob("*.yaml"))]
    out = []
    for i, obj in enumerate(o for d in docs for o in flatten(d)):
        out.append({**obj, "metadata": {**obj["metadata"], "resourceVersion": str(i + 1)}})
    return out


def test_parse_cache_reparses_only_changed_objects() -> None:
    cache, objects = ParseCache(), _shop()
    first = cache.cluster(objects)
    again = cache.cluster(objects)
    assert [id(s) for s in again.services] == [id(s) for s in first.services]
    changed = [
        {**o, "metadata": {**o["metadata"], "resourceVersion": "99"}} if o["kind"] == "Service" else o
        for o in objects
    ]
    third = cache.cluster(changed)
    assert {id(s) for s in third.services}.isdisjoint(id(s) for s in first.services)
    assert [id(p) for p in third.pods] == [id(p) for p in first.pods]
    bad = {"kind": "NetworkPolicy", "metadata": {"name": "x", "namespace": "shop", "resourceVersion": "7"},
           "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "nope"}}]}]}}  # fmt: skip
    assert "NetworkPolicy/shop/x" in [r.object for r in cache.cluster([*objects, bad]).rejected]


def test_count_rules_counts_chain_rules_only() -> None:
    _, ruleset = compile_manifests([SHOP], parse_prefixes(["10.244.0.0/16"]), "boundary")
    rules = count_rules(ruleset)
    # forward 4, icmp 2, per family forward 4 + ingress 2 + egress 2, five drop chains of 2 each
    assert rules == 4 + 2 + 2 * 8 + 5 * 2


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(1.0, 8.0)
    delays = [backoff.next() for _ in range(8)]
    assert all(0.5 <= d <= 8.0 for d in delays) and delays[-1] >= 4.0
    backoff.reset()
    assert backoff.next() <= 1.0


async def test_settle_ends_a_burst_after_quiet() -> None:
    from fabric.firewall.loop import Loop, Timing

    loop = Loop.__new__(Loop)  # only the flag and the timing take part in settling
    loop.dirty, loop.timing = asyncio.Event(), Timing(debounce=0.05, debounce_max=5.0)

    sent: list[int] = []

    async def burst() -> None:
        for i in range(20):
            await asyncio.sleep(0.002)
            loop.dirty.set()
            sent.append(i)

    sender = asyncio.create_task(burst())
    loop.dirty.set()
    await loop._settle()
    assert len(sent) == 20  # the settle outlasted the whole burst: one sync for twenty events
    await sender
