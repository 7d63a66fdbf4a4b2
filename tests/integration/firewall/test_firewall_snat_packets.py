"""SNAT to the firewall's own external address, proven with packets, from the store to the kernel.

A real `fabric api` (SQLite) allocates fw1 serving alpha-net and the internet; the operator attaches
an address of the internet to fw1 with the CLI (`fabric api create ip network=internet firewall=fw1`);
`fabric api state firewall fw1` is the FirewallState, `fabric firewall compile --state` the ruleset,
applied with `NftTable` (the daemon's adapter) in the firewall namespace; real TCP and UDP go from a
client in the cluster to a server outside, which answers with the source address it sees.

There are no kernel VRF devices on our machines: the firewall is one namespace whose external
interface carries both its transfer address (what masquerade picks) and its own address from the store
(what `snat to` must use), so the two are told apart.  VRFs and route leaking are proven in the qemu VM.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric.adapters.api_client import ApiClient
from fabric.adapters.nft import NftTable
from fabric.adapters.process import Result, run
from fabric.firewall.pipeline import compile_manifests
from fabric.model import FirewallState, load_file
from fabric.render.nft import render_ruleset
from lab.rig import Netns, Rig, veth, wait_until
from tests.integration.api.conftest import FABRIC, Server, start_server, stop_server
from tests.integration.api.scenario import declare, lldp_status

pytestmark = pytest.mark.needs("netns", "nft")
WHOAMI = str(Path(__file__).with_name("whoami.py"))
PORT = 7007
TRANSFER4 = "100.64.9.1"  # the firewall's end of the external link: masquerade's choice
SERVER4, SERVER6 = "198.51.100.80", "2001:db8:99::80"  # a host on the internet (on the server's lo)


@dataclass
class Snat:
    api: Server
    client: Netns
    fw: Netns
    server: Netns
    table: NftTable
    work: Path

    def fabric(self, *args: str) -> Result:
        env = {**os.environ, "FABRIC_URL": self.api.url, "FABRIC_TOKEN": self.api.admin}
        result = run([FABRIC, *args], env=env, timeout=60)
        assert result.ok, result.describe()
        return result

    def state(self, name: str) -> Path:
        """`fabric api state firewall fw1` into a file, as an operator would hand it to compile."""
        path = self.work / f"{name}.json"
        path.write_text(self.fabric("api", "state", "firewall", "fw1").stdout)
        return path

    def seen_by_server(self, src: str, dst: str, proto: str) -> str:
        out = self.client.exec([sys.executable, WHOAMI, "ask", src, dst, str(PORT), proto], timeout=20)
        assert out.ok, out.describe()
        return out.stdout.strip()


async def _allocate(api: Server) -> None:
    async with ApiClient(api.url, api.admin) as client:
        await declare(client)
        for leaf in (0, 1):
            await client.post_status("switch", f"leaf0{leaf + 1}", lldp_status(leaf))
        await client.request("POST", "/v1/firewalls/fw1/allocate", {"networks": ["alpha-net", "internet"]})


@pytest.fixture(scope="module")
def snat(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snat]:
    import asyncio

    work = tmp_path_factory.mktemp("snat")
    api = start_server(f"sqlite:///{work}/fabric.db", "sqlite")
    try:
        asyncio.run(_allocate(api))
        client, fw, server = rig.netns("sncl"), rig.netns("snfw"), rig.netns("snsv")
        veth(client, "eth0", fw, "int0")
        veth(fw, "ext0", server, "eth0")
        fw.ip("addr", "add", f"{TRANSFER4}/30", "dev", "ext0")
        fw.ip("addr", "add", "fd00:9::1/64", "dev", "ext0", "nodad")
        server.ip("addr", "add", "100.64.9.2/30", "dev", "eth0")
        server.ip("addr", "add", "fd00:9::2/64", "dev", "eth0", "nodad")
        server.ip("addr", "add", f"{SERVER4}/32", "dev", "lo")
        server.ip("addr", "add", f"{SERVER6}/128", "dev", "lo", "nodad")
        server.ip("route", "add", "default", "via", TRANSFER4)
        server.ip("-6", "route", "add", "default", "via", "fd00:9::1")
        fw.ip("route", "add", "default", "via", "100.64.9.2")
        fw.ip("-6", "route", "add", "default", "via", "fd00:9::2")
        log = work / "whoami.log"
        server.start(
            [sys.executable, WHOAMI, "serve", str(PORT), SERVER4, SERVER6], what="whoami", log_path=log
        )
        wait_until(lambda: log.exists() and "ready" in log.read_text(), timeout=10, what="whoami server")
        yield Snat(api, client, fw, server, NftTable(prefix=["ip", "netns", "exec", fw.name]), work)
    finally:
        stop_server(api.pid)


def _cluster_side(snat: Snat, state: FirewallState) -> tuple[str, str]:
    """The client's addresses: the first hosts of alpha-net's prefixes (inside the SNAT sources)."""
    private = next(v for v in state.vrfs if v.kind == "private")
    v4 = next(p for p in private.prefixes if p.version == 4)
    v6 = next(p for p in private.prefixes if p.version == 6)
    client4, client6 = str(v4.network_address + 10), str(v6.network_address + 10)
    present = snat.client.exec(["ip", "-j", "addr", "show", "dev", "eth0"]).stdout
    if f'"{client4}"' not in present:
        gw4, gw6 = str(v4.network_address + 1), str(v6.network_address + 1)
        snat.client.ip("addr", "add", f"{client4}/{v4.prefixlen}", "dev", "eth0")
        snat.client.ip("addr", "add", f"{client6}/{v6.prefixlen}", "dev", "eth0", "nodad")
        snat.fw.ip("addr", "add", f"{gw4}/{v4.prefixlen}", "dev", "int0")
        snat.fw.ip("addr", "add", f"{gw6}/{v6.prefixlen}", "dev", "int0", "nodad")
        snat.client.ip("route", "add", "default", "via", gw4)
        snat.client.ip("-6", "route", "add", "default", "via", gw6)
    return client4, client6


def _apply(snat: Snat, state_file: Path) -> None:
    """Compile like `fabric firewall compile --state` (the CLI's script is checked to be the same
    text) and apply with the daemon's adapter."""
    manifests = snat.work / "manifests"
    manifests.mkdir(exist_ok=True)
    script = snat.work / "ruleset.nft"
    compile_argv = ["firewall", "compile", "--manifests", str(manifests), "--isolation", "kubernetes"]
    snat.fabric(*compile_argv, "--state", str(state_file), "-o", str(script))
    _, ruleset = compile_manifests([manifests], [], "kubernetes", state_file)
    assert render_ruleset(ruleset) == script.read_text()
    snat.table.apply(ruleset)


def test_masquerade_without_an_own_address(snat: Snat) -> None:
    state_file = snat.state("masquerade")
    state = load_file(FirewallState, state_file)
    assert [r.to for r in state.snat] == ["masquerade"]
    client4, client6 = _cluster_side(snat, state)
    _apply(snat, state_file)
    for proto in ("TCP", "UDP"):
        assert snat.seen_by_server(client4, SERVER4, proto) == TRANSFER4
        # IPv6 leaves untranslated: SNAT is for the private IPv4 prefixes only.
        assert snat.seen_by_server(client6, SERVER6, proto) == client6


def test_snat_to_the_firewalls_own_address(snat: Snat) -> None:
    attached = json.loads(
        snat.fabric("api", "create", "ip", "network=internet", "firewall=fw1", "-o", "json").stdout
    )
    own = attached["address"]
    state_file = snat.state("own")
    state = load_file(FirewallState, state_file)
    external = next(v for v in state.vrfs if v.kind == "external")
    assert [str(a) for a in external.addresses] == [own]
    assert [r.to for r in state.snat] == [[ipaddress.ip_address(own)]]
    # What fabric/firewall/routing.py does on the VRF device, here on the external interface: the
    # firewall's own address beside its transfer address.
    snat.fw.ip("addr", "add", f"{own}/32", "dev", "ext0")
    client4, client6 = _cluster_side(snat, state)
    _apply(snat, state_file)
    rules = snat.fw.exec(["nft", "list", "chain", "inet", "fabric", "postrouting"]).stdout
    assert f"snat ip to {own}" in rules and "masquerade" not in rules, rules
    for proto in ("TCP", "UDP"):
        assert snat.seen_by_server(client4, SERVER4, proto) == own
        assert snat.seen_by_server(client6, SERVER6, proto) == client6


def test_released_address_falls_back_to_masquerade(snat: Snat) -> None:
    state = load_file(FirewallState, snat.state("before-release"))
    own = str(next(v for v in state.vrfs if v.kind == "external").addresses[0])
    snat.fabric("api", "release", own)
    state_file = snat.state("released")
    assert [r.to for r in load_file(FirewallState, state_file).snat] == ["masquerade"]
    client4, _ = _cluster_side(snat, state)
    _apply(snat, state_file)
    for proto in ("TCP", "UDP"):
        assert snat.seen_by_server(client4, SERVER4, proto) == TRANSFER4
