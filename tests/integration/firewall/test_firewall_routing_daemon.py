"""`fabric firewall run` applying FRR and the kernel plumbing: the real daemon process, a real `fabric
api` on SQLite, a real FRR and nftables in one rig namespace.

This machine has no kernel VRF devices, so FRR runs with its netns VRF backend (each VRF a namespace in
the FRR's private namespace directory), as the switch daemon's tests do; that backend cannot leak
routes, so fw1 serves one private network only (no `import vrf`).  The plumbing of kernel VRF devices
cannot run here: this module proves it reports the missing capability at its phase with nothing
half-made, and that devices no VRF asks for are removed after FRR; the kernel-VRF VM scenario
(tests/integration/vm/test_firewall_vrf.py) proves the VRF devices themselves.
The Kubernetes side is the stand-in server of kube_standin.py (no Kubernetes API server runs here).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from collections.abc import Iterator
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
from lab.rig import FrrInstance, Netns, NetnsDir, Rig, wait_until
from lab.rig.daemon import wrap
from tests.integration.api.conftest import FABRIC, free_port
from tests.integration.firewall.test_firewall_daemon import Api

sys.path.insert(0, str(Path(__file__).parent))
from kube_standin import KubeStandIn

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
    from tests.integration.api.scenario import declare as declare_fabric
    from tests.integration.api.scenario import lldp_status

    async with ApiClient(api.url, api.admin) as client:
        await declare_fabric(client)
        for leaf in (0, 1):
            await client.post_status("switch", f"leaf0{leaf + 1}", lldp_status(leaf))
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


@pytest.fixture(scope="module")
def frr(rig: Rig, fw: tuple[Netns, NetnsDir], api: tuple[Api, FirewallState]) -> FrrInstance:
    ns, vrf_dir = fw
    for vrf in api[1].vrfs:  # with the netns backend a VRF is a namespace the operator provides
        vrf_dir.add(vrf.name)
    return rig.frr(ns, "fw1", netns_vrf=True, netns_dir=vrf_dir)


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
def daemon(
    fw: tuple[Netns, NetnsDir],
    frr: FrrInstance,
    api: tuple[Api, FirewallState],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    server = KubeStandIn(bookmark_every=1.0).start()
    server.apply(WEB)
    home = tmp_path_factory.mktemp("fwr-daemon")
    config = {
        "name": "fw1",
        "api": {"url": api[0].url, "token_file": str(api[0].db.parent / "fw1.token"), "watch_wait": 5},
        "kube": {"kubeconfig": str(server.kubeconfig(home / "kubeconfig")), "watch_timeout": 30},
        "nft": {"exec_prefix": ["ip", "netns", "exec", fw[0].name]},
        "frr": frr_settings(frr),
        "plumbing": None,  # the netns backend: VRFs are namespaces, not devices
        "resync_period": 3,  # FRR is reloaded at least this often: drift is repaired quickly
        "resync_jitter": 0,
        "heartbeat": 0.5,
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
    }
    (home / "firewall.yaml").write_text(yaml.safe_dump(config))
    log = home / "daemon.log"
    proc = spawn([FABRIC, "firewall", "run", "--config", str(home / "firewall.yaml")], stdout_path=str(log))
    try:
        yield log
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        server.stop()
        print(log.read_text()[-4000:])
        NftTable(prefix=["ip", "netns", "exec", fw[0].name]).remove()


def test_daemon_applies_frr_and_reports_it(
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
