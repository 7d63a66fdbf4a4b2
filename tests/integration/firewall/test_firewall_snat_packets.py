"""SNAT to the firewall's own external address, proven with packets, from the store to the kernel.

A real `fabric api` (SQLite) allocates fw1 serving alpha-net (IPv4, a global IPv6 prefix and a unique
local IPv6 pod prefix) and the internet (IPv4 and IPv6); the operator attaches addresses of the internet
to fw1 with the CLI (`fabric api create ip network=internet firewall=fw1 [family=6]`);
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
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric.adapters.api_client import ApiClient
from fabric.adapters.nft import NftTable
from fabric.adapters.process import Result
from fabric.firewall.pipeline import compile_manifests
from fabric.model import FirewallState, load_file
from fabric.render.nft import render_ruleset
from lab import netprobe
from lab.rig import Netns, Rig, veth, wait_until
from tests.integration.api.conftest import Server, fabric, start_server, stop_server
from tests.integration.api.scenario import cable, declare, networks_with

pytestmark = pytest.mark.needs("netns", "nft")
NETPROBE = str(Path(netprobe.__file__))
PORT = 7007
TRANSFER4, TRANSFER6 = "100.64.9.1", "fd00:9::1"  # the firewall's end of the external link: masquerade's
SERVER4, SERVER6 = "198.51.100.80", "2001:db8:99::80"  # a host on the internet (on the server's lo)
ULA_PODS = "fd00:10:244::/56"  # kind's dual-stack pod default: leaves translated
NETWORKS_DUAL_STACK = networks_with(
    {
        "internet": {
            "prefixes": ["203.0.113.0/24", "2001:db8:ffff::/64"],
            "destination_prefixes": ["0.0.0.0/0", "::/0"],
        },
        "alpha-net": {"extra_prefixes": ["10.244.0.0/16 le 24", f"{ULA_PODS} le 64"]},
    }
)


@dataclass
class Snat:
    api: Server
    client: Netns
    fw: Netns
    server: Netns
    table: NftTable
    work: Path

    def fabric(self, *args: str) -> Result:
        result = fabric(self.api, *args)
        assert result.ok, result.describe()
        return result

    def state(self, name: str) -> Path:
        """`fabric api state firewall fw1` into a file, as an operator would hand it to compile."""
        path = self.work / f"{name}.json"
        path.write_text(self.fabric("api", "state", "firewall", "fw1").stdout)
        return path

    def seen_by_server(self, src: str, dst: str, proto: str) -> str:
        out = self.client.exec([sys.executable, NETPROBE, "ask", src, dst, str(PORT), proto], timeout=20)
        assert out.ok, out.describe()
        return out.stdout.strip()


async def _allocate(api: Server) -> None:
    async with ApiClient(api.url, api.admin) as client:
        await declare(client, NETWORKS_DUAL_STACK)
        await cable(client)
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
        fw.ip("addr", "add", f"{TRANSFER6}/64", "dev", "ext0", "nodad")
        server.ip("addr", "add", "100.64.9.2/30", "dev", "eth0")
        server.ip("addr", "add", "fd00:9::2/64", "dev", "eth0", "nodad")
        server.ip("addr", "add", f"{SERVER4}/32", "dev", "lo")
        server.ip("addr", "add", f"{SERVER6}/128", "dev", "lo", "nodad")
        server.ip("route", "add", "default", "via", TRANSFER4)
        server.ip("-6", "route", "add", "default", "via", TRANSFER6)
        fw.ip("route", "add", "default", "via", "100.64.9.2")
        fw.ip("-6", "route", "add", "default", "via", "fd00:9::2")
        log = work / "netprobe.log"
        server.start([sys.executable, NETPROBE, "serve", str(PORT)], what="netprobe", log_path=log)
        wait_until(lambda: log.exists() and "ready" in log.read_text(), timeout=10, what="netprobe server")
        yield Snat(api, client, fw, server, NftTable(prefix=["ip", "netns", "exec", fw.name]), work)
    finally:
        stop_server(api.pid)


@dataclass
class Clients:
    """The client's addresses: one in alpha-net's IPv4 prefix, its global IPv6 prefix and the ULA pods."""

    v4: str
    global6: str
    ula6: str


def _cluster_side(snat: Snat, state: FirewallState) -> Clients:
    """The first hosts of alpha-net's prefixes and its ULA pod prefix on the client (the SNAT sources)."""
    private = next(v for v in state.vrfs if v.kind == "private")
    prefixes = [
        next(p for p in private.prefixes if p.version == 4),
        next(p for p in private.prefixes if p.version == 6),
        ipaddress.ip_network(ULA_PODS),
    ]
    clients = Clients(*(str(p.network_address + 10) for p in prefixes))
    present = snat.client.exec(["ip", "-j", "addr", "show", "dev", "eth0"]).stdout
    if f'"{clients.v4}"' not in present:
        for p, client in zip(prefixes, (clients.v4, clients.global6, clients.ula6), strict=True):
            nodad = ["nodad"] if p.version == 6 else []
            snat.client.ip("addr", "add", f"{client}/{p.prefixlen}", "dev", "eth0", *nodad)
            snat.fw.ip("addr", "add", f"{p.network_address + 1}/{p.prefixlen}", "dev", "int0", *nodad)
        snat.client.ip("route", "add", "default", "via", str(prefixes[0].network_address + 1))
        snat.client.ip("-6", "route", "add", "default", "via", str(prefixes[1].network_address + 1))
    return clients


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


def _seen(snat: Snat, clients: Clients, proto: str) -> tuple[str, str, str]:
    """The sources the server sees from the client's IPv4, global IPv6 and ULA IPv6 address."""
    return (
        snat.seen_by_server(clients.v4, SERVER4, proto),
        snat.seen_by_server(clients.global6, SERVER6, proto),
        snat.seen_by_server(clients.ula6, SERVER6, proto),
    )


def _attach(snat: Snat, family: int) -> str:
    """`fabric api create ip network=internet firewall=fw1 family=N`, and the address on ext0 as
    fabric/firewall/routing.py puts it on the VRF device: beside the transfer address."""
    argv = ["api", "create", "ip", "network=internet", "firewall=fw1", f"family={family}", "-o", "json"]
    own: str = json.loads(snat.fabric(*argv).stdout)["address"]
    nodad = ["nodad"] if family == 6 else []
    snat.fw.ip("addr", "add", f"{own}/{32 if family == 4 else 128}", "dev", "ext0", *nodad)
    return own


def test_masquerade_without_an_own_address(snat: Snat) -> None:
    state_file = snat.state("masquerade")
    state = load_file(FirewallState, state_file)
    private4 = next(p for v in state.vrfs if v.kind == "private" for p in v.prefixes if p.version == 4)
    assert [([str(s) for s in r.sources], r.to) for r in state.snat] == [
        ([str(private4), "10.244.0.0/16"], "masquerade"),
        ([ULA_PODS], "masquerade"),
    ]
    clients = _cluster_side(snat, state)
    _apply(snat, state_file)
    for proto in ("TCP", "UDP"):
        # The global IPv6 prefix is routed as it is; the ULA pods leave translated like IPv4.
        assert _seen(snat, clients, proto) == (TRANSFER4, clients.global6, TRANSFER6)


def test_snat_to_the_firewalls_own_address(snat: Snat) -> None:
    own4 = _attach(snat, 4)
    state_file = snat.state("own4")
    state = load_file(FirewallState, state_file)
    external = next(v for v in state.vrfs if v.kind == "external")
    assert [str(a) for a in external.addresses] == [own4]
    # Each family translates to an own address of its own: IPv6 has none yet and masquerades.
    assert [r.to for r in state.snat] == [[ipaddress.ip_address(own4)], "masquerade"]
    clients = _cluster_side(snat, state)
    _apply(snat, state_file)
    rules = snat.fw.exec(["nft", "list", "chain", "inet", "fabric", "postrouting"]).stdout
    assert f"snat ip to {own4}" in rules and "ip6 daddr != @cluster6 masquerade" in rules, rules
    for proto in ("TCP", "UDP"):
        assert _seen(snat, clients, proto) == (own4, clients.global6, TRANSFER6)
    own6 = _attach(snat, 6)
    state_file = snat.state("own6")
    state = load_file(FirewallState, state_file)
    assert [r.to for r in state.snat] == [[ipaddress.ip_address(own4)], [ipaddress.ip_address(own6)]]
    _apply(snat, state_file)
    rules = snat.fw.exec(["nft", "list", "chain", "inet", "fabric", "postrouting"]).stdout
    assert f"snat ip6 to {own6}" in rules and "masquerade" not in rules, rules
    for proto in ("TCP", "UDP"):
        assert _seen(snat, clients, proto) == (own4, clients.global6, own6)


def test_released_address_falls_back_to_masquerade(snat: Snat) -> None:
    state = load_file(FirewallState, snat.state("before-release"))
    for own in next(v for v in state.vrfs if v.kind == "external").addresses:
        snat.fabric("api", "release", str(own))
        # As the plumbing takes it off the VRF device (it keeps exactly `vrfs[].addresses` there).
        snat.fw.ip("addr", "del", f"{own}/{own.max_prefixlen}", "dev", "ext0")
    state_file = snat.state("released")
    assert [r.to for r in load_file(FirewallState, state_file).snat] == ["masquerade", "masquerade"]
    clients = _cluster_side(snat, state)
    _apply(snat, state_file)
    for proto in ("TCP", "UDP"):
        assert _seen(snat, clients, proto) == (TRANSFER4, clients.global6, TRANSFER6)
