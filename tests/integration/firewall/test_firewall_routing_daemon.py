"""`fabric firewall run` applying FRR and the kernel plumbing: the real daemon process, a real `fabric
api` on SQLite, a real FRR and nftables in one rig namespace.

This machine has no kernel VRF devices, so FRR runs with its netns VRF backend (each VRF a namespace in
the FRR's private namespace directory), as the switch daemon's tests do; that backend cannot leak
routes, so fw1 serves one private network only (no `import vrf`).  The plumbing of kernel VRF devices
cannot run here: this module proves it reports the missing capability at its phase with nothing
half-made, and that devices no VRF asks for are removed after FRR; the kernel-VRF VM scenario
(tests/integration/vm/test_firewall_vrf.py) proves the VRF devices themselves.
The Kubernetes side is the stand-in server of lab/kube.py (no Kubernetes API server runs here).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabric.adapters.api_client import ApiClient
from fabric.adapters.nft import NftTable
from fabric.adapters.process import spawn
from fabric.core.frr_model import FrrOptions
from fabric.errors import ApplyError
from fabric.firewall.routing import Routing
from fabric.firewall.sync import Syncer, Timer
from fabric.model import FirewallState, load_file
from fabric.render.frr import render_firewall_frr
from lab.kube import KubeStandIn
from lab.rig import FrrInstance, Netns, NetnsDir, Rig, wait_until
from lab.rig.daemon import wrap
from tests.integration.api.conftest import FABRIC, free_port
from tests.integration.firewall.test_firewall_daemon import Api

pytestmark = pytest.mark.needs("root", "netns", "nft", "frr")
EXAMPLE = Path(__file__).parents[2] / "data" / "examples" / "firewall-alpha.json"
WEB = {
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"type": "LoadBalancer", "ports": [{"port": 443, "protocol": "TCP"}]},
    "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}},
}


async def declare(api: Api) -> tuple[str, FirewallState]:
    """The API scenario's fabric with fw1 serving alpha-net only; returns its token and state."""
    from tests.integration.api.scenario import cable
    from tests.integration.api.scenario import declare as declare_fabric

    async with ApiClient(api.url, api.admin) as client:
        await declare_fabric(client)
        await cable(client)
        await client.request("POST", "/v1/firewalls/fw1/allocate", {"networks": ["alpha-net"]})
        token = await client.request("POST", "/v1/tokens", {"role": "firewall", "subject": "fw1"})
        state = (await client.get_state("firewall", "fw1")).document
    assert isinstance(state, FirewallState)
    return str(token["token"]), state


@pytest.fixture(scope="module")
def fw(rig: Rig) -> tuple[Netns, NetnsDir]:
    return rig.netns("rfw"), rig.netns_dir("rfw")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, FirewallState]]:
    home = tmp_path_factory.mktemp("fwr-api")
    server = Api(home / "fabric.db", free_port(), "fab_" + secrets.token_urlsafe(32), home / "api.log")
    server.start()
    try:
        token, state = asyncio.run(declare(server))
        (home / "fw1.token").write_text(token)
        yield server, state
    finally:
        server.stop()


# What an operator (or another tool) left in FRR before fabric: routing config fabric never wrote.
FOREIGN = """hostname fw1
service integrated-vtysh-config
ip prefix-list OPS-NETS seq 5 permit 198.51.100.0/24
route-map OPS-IN permit 10
 match ip address prefix-list OPS-NETS
exit
router bgp 65500
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
exit
"""


@pytest.fixture(scope="module")
def frr(rig: Rig, fw: tuple[Netns, NetnsDir], api: tuple[Api, FirewallState]) -> FrrInstance:
    """fw1's FRR, started with a config fabric did not write (the daemon must adopt it first)."""
    ns, vrf_dir = fw
    for vrf in api[1].vrfs:  # with the netns backend a VRF is a namespace the operator provides
        vrf_dir.add(vrf.name)
    return rig.frr(ns, "fw1", config=FOREIGN, netns_vrf=True, netns_dir=vrf_dir)


def frr_settings(frr: FrrInstance) -> dict[str, Any]:
    d = str(frr.dir)
    return {
        "exec_prefix": wrap([], netns=frr.ns.name, hostname=frr.hostname),
        "config_dir": d,
        "vty_socket_dir": d,
        "rundir": d,
        "bindir": "/usr/bin",
        "vrf_backend": "netns",
    }


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeStandIn]:
    server = KubeStandIn(bookmark_every=1.0).start()
    server.apply(WEB)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def running_daemon(
    home: Path,
    frr: FrrInstance,
    api: Api,
    kube: KubeStandIn,
    *,
    plumbing: dict[str, Any] | None,
    adopt: bool,
) -> Iterator[Path]:
    """`fabric firewall run` (with `--adopt` when asked) until the block ends; yields its log."""
    config = {
        "name": "fw1",
        "api": {"url": api.url, "token_file": str(api.db.parent / "fw1.token"), "watch_wait": 5},
        "kube": {"kubeconfig": str(kube.kubeconfig(home / "kubeconfig")), "watch_timeout": 30},
        "nft": {"exec_prefix": ["ip", "netns", "exec", frr.ns.name]},
        "frr": frr_settings(frr),
        "plumbing": plumbing,
        "resync_period": 3,  # FRR is reloaded (or adoption checked again) at least this often
        "resync_jitter": 0,
        "heartbeat": 0.5,
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
    }
    (home / "firewall.yaml").write_text(yaml.safe_dump(config))
    log = home / "daemon.log"
    argv = [FABRIC, "firewall", "run", "--config", str(home / "firewall.yaml"), *(["--adopt"] * adopt)]
    proc = spawn(argv, stdout_path=str(log))
    try:
        yield log
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        print(log.read_text()[-4000:])
        NftTable(prefix=["ip", "netns", "exec", frr.ns.name]).remove()


@dataclass
class Refusal:
    """What a daemon without `--adopt` left: its status, FRR before and after, the filter it loaded."""

    status: dict[str, Any]
    before: str
    after: str
    nft: str
    refusals: int
    files: set[str]


@pytest.fixture(scope="module")
def refused(
    frr: FrrInstance,
    api: tuple[Api, FirewallState],
    kube: KubeStandIn,
    tmp_path_factory: pytest.TempPathFactory,
) -> Refusal:
    """The daemon without `--adopt` against the foreign FRR, until it refused twice (the second at
    the periodic resync).  Plumbing is configured into fw1's namespace only to show the check comes
    first: on this VRF-less kernel the plumbing phase would fail at `netlink:vrf`."""
    before = frr.running_config()
    home = tmp_path_factory.mktemp("fwr-refused")
    plumbing = {"netns": frr.ns.name}
    with running_daemon(home, frr, api[0], kube, plumbing=plumbing, adopt=False) as log:
        status = wait_until(
            lambda: (s := api[0].status()) and s["sync"]["failing_phase"] == "frr:adopt" and s,
            timeout=60,
            what="the adoption refusal reported",
        )
        wait_until(
            lambda: log.read_text().count("failed in frr:adopt") >= 2, timeout=30, what="refused again"
        )
        nft = NftTable(prefix=["ip", "netns", "exec", frr.ns.name]).listing(stateless=True)
        refusals = log.read_text().count("failed in frr:adopt")
        after = frr.running_config()
    return Refusal(status, before, after, nft, refusals, {p.name for p in frr.dir.iterdir()})


@pytest.fixture(scope="module")
def daemon(
    frr: FrrInstance,
    api: tuple[Api, FirewallState],
    kube: KubeStandIn,
    refused: Refusal,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    """The daemon restarted with `--adopt` (after `refused`); the netns backend: no plumbing."""
    home = tmp_path_factory.mktemp("fwr-daemon")
    with running_daemon(home, frr, api[0], kube, plumbing=None, adopt=True) as log:
        yield log


def test_foreign_frr_config_is_refused_with_the_delta(
    refused: Refusal, api: tuple[Api, FirewallState]
) -> None:
    sync, state = refused.status["sync"], api[1]
    assert (sync["ok"], sync["retryable"], sync["applied_revision"]) == (False, False, 0)
    assert "start with --adopt to take it over" in sync["reason"]
    # The delta the first apply would make (the first 50 of its lines): the foreign lines go, the
    # rendered ones come.
    assert "\n- no router bgp 65500\n" in sync["reason"]
    assert "\n- no route-map OPS-IN permit 10\n" in sync["reason"]
    assert f"\n+ vrf {state.vrfs[0].name}\n" in sync["reason"]
    assert f"\n+ router bgp {state.firewall.asn}\n" in sync["reason"]
    # Checked after the filter and before plumbing (which would have failed at netlink:vrf here).
    assert [p["phase"] for p in sync["phases"]] == ["compile", "nft", "count", "frr:adopt"]


def test_refused_sync_writes_nothing_to_frr_and_keeps_the_filter(refused: Refusal) -> None:
    assert refused.after == refused.before
    assert "fabric-last-good.conf" not in refused.files
    # Not retried at once (not retryable), but checked again at the resync, and refused again.
    assert refused.refusals >= 2
    # The firewall's filtering is enforced all the same.
    assert "shop/web (Service)" in refused.nft
    assert refused.status["elements"] > 0


def test_daemon_with_adopt_takes_over_and_applies_frr(
    daemon: Path, frr: FrrInstance, api: tuple[Api, FirewallState]
) -> None:
    server, state = api
    status = wait_until(
        lambda: (s := server.status()) and s["sync"]["ok"] and s["sync"]["applied_revision"] and s,
        timeout=60,
        what="a successful sync reported",
    )
    assert [p["phase"] for p in status["sync"]["phases"]][:2] == ["compile", "nft"]
    assert "frr" in {p["phase"] for p in status["sync"]["phases"]}
    assert status["sync"]["drift"] == []
    vrf = state.vrfs[0].name
    running = frr.running_config()
    assert f"vrf {vrf}\n vni {state.vrfs[0].vni}\n netns /run/netns/{vrf}\nexit-vrf" in running
    assert f"router bgp {state.firewall.asn} vrf {vrf}" in running
    assert "OPS-" not in running and "router bgp 65500" not in running  # adopted: foreign config gone
    # FRR runs exactly what the renderer makes of the state: frr-reload --test is empty.
    path = frr.dir / "expected.conf"
    path.write_text(render_firewall_frr(state, FrrOptions(frr_version="8.4.4", netns_vrfs=True)))
    assert frr.delta(path).empty
    # ... and the filter is there too.
    listing = NftTable(prefix=["ip", "netns", "exec", frr.ns.name]).listing(stateless=True)
    assert "shop/web (Service)" in listing


def test_foreign_change_to_frr_is_reverted_by_the_periodic_reload(daemon: Path, frr: FrrInstance) -> None:
    frr.vtysh("configure terminal", "ip prefix-list FOREIGN seq 5 permit 192.0.2.0/24")
    assert "FOREIGN" in frr.running_config()
    wait_until(lambda: "FOREIGN" not in frr.running_config(), timeout=30, what="drift repaired")


def test_missing_vrf_devices_fail_the_plumbing_phase_before_frr(rig: Rig) -> None:
    """Kernel plumbing in a namespace of this VRF-less kernel: the sync fails at `netlink:vrf`, not
    retryable, naming the kernel feature; no bridge or vxlan device is made and FRR is never reached
    (an FRR adapter pointing nowhere would fail the `frr` phase, which must not run)."""
    ns = rig.netns("rpl", router=False)
    table = NftTable(prefix=["ip", "netns", "exec", ns.name])
    syncer = Syncer(table, "boundary", Routing(None, plumbing=True, netns=ns.name))
    state, timer = load_file(FirewallState, EXAMPLE), Timer()
    try:
        with pytest.raises(ApplyError) as err:
            asyncio.run(syncer.sync(state, [WEB], timer))
        outcome = syncer.failure(state, err.value, timer)
        assert (outcome.result.failing_phase, outcome.result.retryable) == ("netlink:vrf", False)
        assert "no VRF devices" in outcome.result.reason and "CONFIG_NET_VRF" in outcome.result.reason
        assert [p.phase for p in timer.phases] == ["compile", "nft", "count", "plumbing"]
        # The filter went in before the failure: the status counts what the kernel holds.
        assert outcome.elements > 0 and outcome.result.applied_revision == 0
        assert [c.object for c in outcome.conditions] == ["Service/shop/web"]
        links = json.loads(ns.ip("-j", "link", "show").stdout)
        assert [link["ifname"] for link in links] == ["lo"]
    finally:
        table.remove()


def test_devices_no_vrf_asks_for_are_removed_after_frr(rig: Rig) -> None:
    """A state without VRFs: leftover L3VNI devices of ours go (after the FRR phase), others stay."""
    ns = rig.netns("rrm", router=False)
    for argv in (
        ["link", "add", "br100099", "type", "bridge"],
        ["link", "add", "vx100099", "type", "vxlan", "id", "100099", "local", "10.1.255.1"],
        ["link", "add", "brmine", "type", "bridge"],  # not a name the daemon owns
    ):
        ns.ip(*argv)
    state = load_file(FirewallState, EXAMPLE).model_copy(update={"vrfs": [], "snat": []})
    table = NftTable(prefix=["ip", "netns", "exec", ns.name])
    syncer, timer = Syncer(table, "boundary", Routing(None, plumbing=True, netns=ns.name)), Timer()
    try:
        asyncio.run(syncer.sync(state, [WEB], timer))
        names = {link["ifname"] for link in json.loads(ns.ip("-j", "link", "show").stdout)}
        assert names == {"lo", "brmine"}
        phases = [p.phase for p in timer.phases]
        assert phases.index("frr") < phases.index("plumbing:remove")
    finally:
        table.remove()
