"""The firewall daemon's pure parts: configuration, incremental compiling, rule counting, backoff."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from fabric.adapters.nft import NftTable
from fabric.core.policy.incremental import PolicyCompiler
from fabric.core.policy.manifests import flatten
from fabric.errors import ValidationError
from fabric.firewall.config import load_config
from fabric.firewall.pipeline import compile_manifests, parse_prefixes
from fabric.firewall.sync import Syncer, count_rules
from fabric.model import FirewallState, load_file
from fabric.runtime.backoff import Backoff

EXAMPLE = Path(__file__).parents[2] / "templates" / "firewall.example.yaml"
SHOP = Path(__file__).parents[1] / "data" / "k8s" / "shop"
FIREWALL = Path(__file__).parents[1] / "data" / "examples" / "firewall-alpha.json"


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


def test_syncer_compiles_incrementally_and_equals_a_fresh_compile() -> None:
    state = load_file(FirewallState, FIREWALL)
    syncer, objects = Syncer(NftTable(), "boundary"), _shop()
    _, first = syncer._compile(state, objects)
    changed = [
        {**o, "spec": {**o["spec"], "ports": [{"port": 8443}]}} if o["kind"] == "Service" else o
        for o in objects
    ]
    compiled, ruleset = syncer._compile(state, changed)
    fresh = PolicyCompiler(state.cluster_prefixes, "boundary")
    fresh.sync(changed)
    assert ruleset == fresh.ruleset(state) and ruleset != first
    assert ruleset.map("allow_eg4").elements is first.map("allow_eg4").elements  # untouched: reused
    assert ruleset.map("allow_eg4").profiles is first.map("allow_eg4").profiles
    bad = {"kind": "NetworkPolicy", "metadata": {"name": "x", "namespace": "shop", "resourceVersion": "7"},
           "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "nope"}}]}]}}  # fmt: skip
    compiled, _ = syncer._compile(state, [*changed, bad])
    assert "NetworkPolicy/shop/x" in [c.object for c in compiled.conditions if not c.accepted]


def test_count_rules_counts_chain_rules_only() -> None:
    _, ruleset = compile_manifests([SHOP], parse_prefixes(["10.244.0.0/16"]), "boundary")
    rules = count_rules(ruleset)
    # forward 4, icmp 2, per family forward 4 + ingress 2 + egress 2, five drop chains of 2 each,
    # and one rule per profile chain (shop: v4 in 4, out 2; v6 in 2, out 1)
    assert [len(m.profiles) for m in ruleset.maps] == [4, 2, 2, 1]
    assert rules == 4 + 2 + 2 * 8 + 5 * 2 + 9


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(1.0, 8.0)
    delays = [backoff.next() for _ in range(8)]
    assert all(0.5 <= d <= 8.0 for d in delays) and delays[-1] >= 4.0
    backoff.reset()
    assert backoff.next() <= 1.0


async def test_settle_ends_a_burst_after_quiet() -> None:
    from fabric.firewall.loop import Loop
    from fabric.runtime.config import Timing

    loop = Loop.__new__(Loop)  # only the flag and the timing take part in settling
    loop.dirty, loop.timing = asyncio.Event(), Timing(debounce=0.05, debounce_max=5.0)

    sent: list[int] = []

    async def burst() -> None:
        for i in range(20):
            await asyncio.sleep(0.002)  # under test: events 2 ms apart, inside the 50 ms debounce
            loop.dirty.set()
            sent.append(i)

    sender = asyncio.create_task(burst())
    loop.dirty.set()
    await loop._settle()
    assert len(sent) == 20  # the settle outlasted the whole burst: one sync for twenty events
    await sender


def test_frr_and_plumbing_settings_are_the_switch_daemons_and_can_be_turned_off() -> None:
    from fabric.firewall.daemon import routing
    from fabric.runtime.config import FrrSettings

    cfg = load_config(EXAMPLE, {"FABRIC_FIREWALL_FRR__VRF_BACKEND": "netns"})
    assert isinstance(cfg.frr, FrrSettings) and cfg.frr.config_dir == "/etc/frr"
    assert cfg.plumbing is not None and cfg.plumbing.netns is None
    built = routing(cfg)
    assert built is not None and built.vrf_backend == "netns" and built.plumbing
    off = load_config(EXAMPLE, {"FABRIC_FIREWALL_FRR": "null", "FABRIC_FIREWALL_PLUMBING": "null"})
    assert off.frr is None and off.plumbing is None and routing(off) is None
    with pytest.raises(ValidationError, match="vrf_backend"):
        load_config(EXAMPLE, {"FABRIC_FIREWALL_FRR__VRF_BACKEND": "vrf-lite"})


def test_adoption_is_checked_unless_adopt_and_only_when_frr_is_managed() -> None:
    from typer.testing import CliRunner

    from fabric.commands.firewall import app
    from fabric.firewall.daemon import routing

    cfg = load_config(EXAMPLE)
    guarded, adopting = routing(cfg), routing(cfg, adopt=True)
    assert guarded is not None and guarded.checks_adoption
    assert adopting is not None and not adopting.checks_adoption
    plumbing_only = routing(load_config(EXAMPLE, {"FABRIC_FIREWALL_FRR": "null"}))
    assert plumbing_only is not None and not plumbing_only.checks_adoption
    help_text = CliRunner().invoke(app, ["run", "--help"]).output
    assert "--adopt" in help_text
