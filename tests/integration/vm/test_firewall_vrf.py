"""The firewall with real kernel VRFs, in a qemu VM: route leaking, nftables, SNAT, packets crossing.

This machine has no kernel VRF devices, so the scenario (lab/vm/scenarios/firewall_vrf.py) runs once
per module inside a `KernelVm`.  The firewall's state comes from the store: a real `fabric api`
(SQLite, on the host) allocates fw1 for the tenant network (10.10.0.0/22, 2001:db8:10::/56 and the
unique local pod prefix fd00:10:244::/56) and the internet, the operator attaches the firewall's own
internet addresses with the CLI (203.0.113.9, 2001:db8:ffff::9), and `fabric api state firewall fw1`
is the document.  SNAT therefore translates IPv4 and the ULA pods `to` the own addresses, and routes
the global IPv6 prefix as it is.  The VRF devices, with the own addresses, are made by the daemon's
`Routing.plumb`, FRR is `render_firewall_frr(state)` as rendered (which announces them as `network
A/32`), the nftables table is what `fabric firewall compile --state` makes of tests/data/vm-firewall/.
In the same boot, after the probes, the state after `fabric api release` of both addresses (SNAT
back to masquerade) is compiled and applied over the first and egress is probed again: the two are
told apart because the external port carries a different address (203.0.113.1, 2001:db8:ffff::1),
which masquerade takes.

Scenario-only pieces, because the firewall's own config has no source for them here (in production
the routes arrive from the leaves as EVPN type-5 routes): `SCENARIO_FRR` puts the tenant's LB
address and the internet's default routes into the VRFs' BGP tables (static routes redistributed);
BGP sessions with the hosts would not do, since the product's input chain rightly accepts BGP only
from the uplinks.  So the internet host reaches the firewall's own addresses by static host routes via
the port's address, what the announced host routes give a neighbour in production.  The ports'
addresses are assigned by the scenario (FirewallState has no field for them).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fabric.adapters.api_client import ApiClient
from fabric.core.frr_model import FrrOptions
from fabric.model import FirewallState, load
from fabric.render.frr import render_firewall_frr
from lab.rig import Rig
from lab.vm import VmResult, run_spec_scenario
from lab.vm.scenarios import firewall_vrf
from tests.integration.api.conftest import Server, fabric, start_server, stop_server
from tests.integration.api.scenario import PARTITION, cable, declare, networks_with

pytestmark = [pytest.mark.slow, pytest.mark.needs("netns", "frr", "nft", "qemu")]

DATA = Path(__file__).resolve().parents[2] / "data"
MANIFESTS = DATA / "vm-firewall"  # not under k8s/, whose whole tree the golden cases load
OPTIONS = FrrOptions(frr_version="8.4")  # the FRR on the host root the guest runs
TENANT, EXTERNAL = "Vrf100010", "Vrf104009"
ASN = 4210000100  # the first of the partition's machine ASNs: fw1's
POD = ("10.10.0.5", "2001:db8:10::5")  # the tenant host: pod web-0 of the manifests
POD_ULA = "fd00:10:244::5"  # web-0's unique local address: leaves translated (global IPv6 does not)
ULA_PODS = "fd00:10:244::/56"
LB = ("10.10.1.100", "2001:db8:10:1::100")  # Service tenant/web's load-balancer addresses
FW_EXTERNAL = ("203.0.113.1", "2001:db8:ffff::1")  # the firewall's port address (masquerade's pick)
OWN = ("203.0.113.9", "2001:db8:ffff::9")  # the firewall's own addresses (`vrfs[].addresses`)
OWN_HOSTS = (f"{OWN[0]}/32", f"{OWN[1]}/128")
INTERNET = ("198.51.100.80", "2001:db8:beef::80")  # a server on the internet
UPSTREAM = ("203.0.113.2", "2001:db8:ffff::2")  # the internet host's end of the external link

SCENARIO_FRR = f"""!
! scenario-only: routes entering the VRFs' BGP tables (EVPN type-5 routes from the leaves in production)
vrf {TENANT}
 ip route {LB[0]}/32 {POD[0]}
 ipv6 route {LB[1]}/128 {POD[1]}
exit-vrf
vrf {EXTERNAL}
 ip route 0.0.0.0/0 {UPSTREAM[0]}
 ipv6 route ::/0 {UPSTREAM[1]}
exit-vrf
router bgp {ASN} vrf {TENANT}
 address-family ipv4 unicast
  redistribute connected
  redistribute static
 exit-address-family
 address-family ipv6 unicast
  redistribute connected
  redistribute static
 exit-address-family
exit
router bgp {ASN} vrf {EXTERNAL}
 address-family ipv4 unicast
  redistribute static
 exit-address-family
 address-family ipv6 unicast
  redistribute static
 exit-address-family
exit
"""
# Leaked into the tenant VRF (what the external network offers) and into the external one (no-export).
LEAKED = {
    TENANT: ["0.0.0.0/0", "::/0"],
    # The ULA pod route too (an extra prefix): replies to its translated traffic are routed there.
    EXTERNAL: ["10.10.0.0/24", "2001:db8:10::/64", "fd00:10:244::/64", f"{LB[0]}/32", f"{LB[1]}/128"],
}


# The store's fabric of tests/integration/api/scenario.py with this module's VNIs and prefixes.
VM_PARTITION = {
    **PARTITION,
    "vni_range": {"first": 100000, "last": 109999},
    "machine_asn_range": {"first": ASN, "last": ASN + 99},
}
VM_NETWORKS = {
    # Carved first from these supers, alpha-net gets 10.10.0.0/22 and 2001:db8:10::/56.
    "tenants": {"prefixes": ["10.10.0.0/16", "2001:db8:10::/48"], "child_lengths": {"4": 22, "6": 56}},
    "internet": {
        "vni": 104009,
        "prefixes": ["203.0.113.0/24", "2001:db8:ffff::/48"],
        "destination_prefixes": ["0.0.0.0/0", "::/0"],
    },
    "alpha-net": {"vni": 100010, "extra_prefixes": ["10.244.0.0/16 le 24", f"{ULA_PODS} le 64"]},
}


def _fabric(api: Server, *args: str) -> str:
    result = fabric(api, *args)
    assert result.ok, result.describe()
    return result.stdout


async def _allocate(api: Server) -> None:
    async with ApiClient(api.url, api.admin) as client:
        await declare(client, networks_with(VM_NETWORKS), VM_PARTITION)
        await cable(client)
        await client.request("POST", "/v1/firewalls/fw1/allocate", {"networks": ["alpha-net", "internet"]})


def _states(work: Path) -> tuple[FirewallState, FirewallState]:
    """fw1's document from a real `fabric api`: with its own internet addresses attached by the CLI,
    and after they are released (SNAT back to masquerade)."""
    api = start_server(f"sqlite:///{work}/fabric.db", "sqlite")
    try:
        asyncio.run(_allocate(api))
        for family, own in ((4, OWN[0]), (6, OWN[1])):
            _fabric(
                api,
                "api",
                "create",
                "ip",
                "network=internet",
                "firewall=fw1",
                f"family={family}",
                f"address={own}",
            )
        own = load(FirewallState, json.loads(_fabric(api, "api", "state", "firewall", "fw1")))
        for address in OWN:
            _fabric(api, "api", "release", address)
        released = load(FirewallState, json.loads(_fabric(api, "api", "state", "firewall", "fw1")))
    finally:
        stop_server(api.pid)
    assert own.firewall.asn == ASN and [v.name for v in own.vrfs] == [TENANT, EXTERNAL], own
    return own, released


def _probes() -> list[dict[str, Any]]:
    probes = []
    for family, i in (("v4", 0), ("v6", 1)):
        probes += [
            {"name": f"egress-80-{family}", "from": "tenant", "to": INTERNET[i], "port": 80},
            {
                "name": f"egress-80-udp-{family}",
                "from": "tenant",
                "to": INTERNET[i],
                "port": 80,
                "proto": "udp",
            },
            {"name": f"egress-81-{family}", "from": "tenant", "to": INTERNET[i], "port": 81},
            {"name": f"lb-443-{family}", "from": "internet", "to": LB[i], "port": 443},
            {"name": f"lb-8443-{family}", "from": "internet", "to": LB[i], "port": 8443},
            # Controls: the denied ports do listen (a denial is the firewall's, not a closed port).
            {"name": f"local-81-{family}", "from": "internet", "to": INTERNET[i], "port": 81},
            {"name": f"local-8443-{family}", "from": "tenant", "to": LB[i], "port": 8443},
        ]
    # From the pod's unique local address: translated, where its global address (above) is not.
    probes += [_ula_probe("egress-80", proto) for proto in ("tcp", "udp")]
    return probes


def _ula_probe(name: str, proto: str) -> dict[str, Any]:
    return {
        "name": f"{name}-{proto}-ula",
        "from": "tenant",
        "source": POD_ULA,
        "to": INTERNET[1],
        "port": 80,
        "proto": proto,
    }


def _masquerade_probes() -> list[dict[str, Any]]:
    return [
        *(
            {
                "name": f"masq-80-{proto}-{family}",
                "from": "tenant",
                "to": INTERNET[i],
                "port": 80,
                "proto": proto,
            }
            for family, i in (("v4", 0), ("v6", 1))
            for proto in ("tcp", "udp")
        ),
        *(_ula_probe("masq-80", proto) for proto in ("tcp", "udp")),
    ]


def _job(work: Path) -> tuple[dict[str, Any], dict[str, str | Path]]:
    state, released = _states(work)
    manifests = sorted(MANIFESTS.glob("*.yaml"))
    files: dict[str, str | Path] = {
        "state.json": state.model_dump_json(by_alias=True),
        "masquerade.json": released.model_dump_json(by_alias=True),
        "firewall.conf": render_firewall_frr(state, OPTIONS),
        "scenario.conf": SCENARIO_FRR,
        **{f"k8s/{m.name}": m for m in manifests},
    }
    spec = {
        "state": "state.json",
        "manifests": [f"k8s/{m.name}" for m in manifests],
        "isolation": "boundary",
        "frr": ["firewall.conf", "scenario.conf"],
        "ports": [
            {
                "name": "tn0",
                "vrf": TENANT,
                "host": "tenant",
                "host_nic": "eth0",
                "addresses": ["10.10.0.1/24", "2001:db8:10::1/64", "fd00:10:244::1/64"],
            },
            {
                "name": "ex0",
                "vrf": EXTERNAL,
                "host": "internet",
                "host_nic": "eth0",
                "addresses": [f"{FW_EXTERNAL[0]}/24", f"{FW_EXTERNAL[1]}/64"],
            },
        ],
        "hosts": {
            "tenant": {
                "addresses": [
                    ["eth0", f"{POD[0]}/24"],
                    ["eth0", f"{POD[1]}/64"],
                    ["eth0", f"{POD_ULA}/64"],
                    ["lo", f"{LB[0]}/32"],
                    ["lo", f"{LB[1]}/128"],
                ],
                "routes": [["default", "10.10.0.1"], ["default", "2001:db8:10::1"]],
            },
            "internet": {
                "addresses": [
                    ["eth0", f"{UPSTREAM[0]}/24"],
                    ["eth0", f"{UPSTREAM[1]}/64"],
                    ["lo", f"{INTERNET[0]}/32"],
                    ["lo", f"{INTERNET[1]}/128"],
                ],
                # The no-export mark keeps the tenant's prefixes from the firewall's eBGP neighbours;
                # the internet side reaches them by its own static route.  The firewall's own
                # addresses it reaches as the announced host routes tell a neighbour in production:
                # via the firewall's port (a NIC answers ARP/ND for its own addresses only, in IPv6).
                "routes": [
                    ["10.10.0.0/22", FW_EXTERNAL[0]],
                    ["2001:db8:10::/56", FW_EXTERNAL[1]],
                    [OWN_HOSTS[0], FW_EXTERNAL[0]],
                    [OWN_HOSTS[1], FW_EXTERNAL[1]],
                ],
            },
        },
        "servers": [
            *({"node": "internet", "address": a, "port": p} for a in INTERNET for p in (80, 81)),
            *({"node": "internet", "address": a, "port": 80, "proto": "udp"} for a in INTERNET),
            *({"node": "tenant", "address": a, "port": p} for a in LB for p in (443, 8443)),
        ],
        "probes": _probes(),
        "then": {"state": "masquerade.json", "probes": _masquerade_probes()},
        "expect": LEAKED,
        "announced": {EXTERNAL: list(OWN_HOSTS)},
        "kernel_tables": {TENANT: "100010", EXTERNAL: "104009", "main": "main"},
        "timeout": 60,
    }
    return spec, files


@pytest.fixture(scope="module")
def run(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VmResult]:
    """The scenario, run once for the module's tests."""
    spec, files = _job(tmp_path_factory.mktemp("firewall-vrf"))
    yield run_spec_scenario(rig, Path(firewall_vrf.__file__), spec, files, label="firewall VRF VM")


def _probes_by_name(run: VmResult) -> dict[str, dict[str, Any]]:
    assert run.data["converged"], run.output[-2000:]
    return {p["name"]: p for p in run.data["probes"]}


def _best(routes: dict[str, Any], prefix: str) -> dict[str, Any]:
    best = [r for r in routes.get(prefix, []) if r.get("selected")]
    assert best, f"{prefix} not selected: {routes.get(prefix)}"
    return dict(best[0])


def test_vrf_devices_made_by_the_product_plumbing(run: VmResult) -> None:
    links = {link["ifname"]: link for link in run.data["links"]}
    tables = {
        n: link["linkinfo"]["info_data"]["table"]
        for n, link in links.items()
        if link.get("linkinfo", {}).get("info_kind") == "vrf"
    }
    assert tables == {TENANT: 100010, EXTERNAL: 104009}
    assert links["br100010"]["master"] == TENANT and links["vx100010"]["master"] == "br100010"
    assert links["tn0"]["master"] == TENANT and links["ex0"]["master"] == EXTERNAL
    assert run.data["plumbing"][-1] == "then in sync: True"  # a second plan right after is empty


def test_tenant_vrf_imports_the_default_routes_only(run: VmResult) -> None:
    routes = run.data["routes"][TENANT]
    for family, prefix, via in (("ipv4", "0.0.0.0/0", UPSTREAM[0]), ("ipv6", "::/0", UPSTREAM[1])):
        best = _best(routes[family], prefix)
        assert best["protocol"] == "bgp" and best["installed"] is True, best
        (hop,) = best["nexthops"]
        assert (hop["ip"], hop["interfaceName"], hop["vrf"]) == (via, "ex0", EXTERNAL)
        paths = routes["bgp"][prefix]["paths"]
        assert paths[0]["nhVrfName"] == EXTERNAL  # leaked by `import vrf`, not learned
        assert "community" not in paths[0]  # what the tenant imports is not marked
    # Exact-match import of what the external network offers: its connected /24 stays out.
    assert "203.0.113.0/24" not in routes["ipv4"]
    kernel = run.data["kernel"]
    assert [r["gateway"] for r in kernel[TENANT]["4"] if r["dst"] == "default"] == [UPSTREAM[0]]
    assert [r["gateway"] for r in kernel[TENANT]["6"] if r["dst"] == "default"] == [UPSTREAM[1]]
    assert not [r for r in kernel["main"]["4"] + kernel["main"]["6"] if r["dst"] == "default"]


def test_external_vrf_imports_tenant_prefixes_no_export_unless_routed_as_they_are(run: VmResult) -> None:
    routes = run.data["routes"][EXTERNAL]
    for prefix in LEAKED[EXTERNAL]:
        family = "ipv6" if ":" in prefix else "ipv4"
        best = _best(routes[family], prefix)
        assert best["protocol"] == "bgp" and best["installed"] is True, best
        assert best["nexthops"][0]["interfaceName"] == "tn0" and best["nexthops"][0]["vrf"] == TENANT
        (path,) = routes["bgp"][prefix]["paths"]
        assert path["nhVrfName"] == TENANT
        if family == "ipv4" or prefix.startswith("fd"):  # translated: never leaves the firewall's peers
            assert path["community"]["string"] == "no-export", path
        else:  # global IPv6 leaves as it is: announced, so the external network learns the way back
            assert "community" not in path, path


def test_own_addresses_on_the_vrf_device_by_the_daemons_plumbing(run: VmResult) -> None:
    addresses = {
        a["ifname"]: {f"{i['local']}/{i['prefixlen']}" for i in a["addr_info"] if i.get("scope") != "link"}
        for a in run.data["addresses"]
    }
    assert addresses[EXTERNAL] == set(OWN_HOSTS)  # host addresses, on the VRF device (`Routing.plumb`)
    assert addresses["ex0"] == {f"{FW_EXTERNAL[0]}/24", f"{FW_EXTERNAL[1]}/64"}
    assert addresses[TENANT] == set()
    kernel = run.data["kernel"][EXTERNAL]
    for family, own in (("4", OWN[0]), ("6", OWN[1])):
        local = [r for r in kernel[family] if r["dst"] == own and r.get("type") == "local"]
        assert [r["dev"] for r in local] == [EXTERNAL], kernel[family]


def test_own_addresses_announced_from_the_external_vrf(run: VmResult) -> None:
    config = run.data["running_config"]
    section = config[config.index(f"router bgp {ASN} vrf {EXTERNAL}\n") :]
    section = section[: section.index("\nexit\n")]
    assert f"  network {OWN_HOSTS[0]}\n" in section and f"  network {OWN_HOSTS[1]}\n" in section, section
    tenant = config[config.index(f"router bgp {ASN} vrf {TENANT}\n") :]
    assert f"network {OWN[0]}" not in tenant[: tenant.index("\nexit\n")]
    routes = run.data["routes"][EXTERNAL]
    for family, prefix in (("ipv4", OWN_HOSTS[0]), ("ipv6", OWN_HOSTS[1])):
        (path,) = run.data["announced"][EXTERNAL][prefix]["paths"]
        # Originated here by `network` (valid because zebra has the address as connected), best.
        assert path["sourced"] and path["local"] and path["valid"] and path["bestpath"]["overall"], path
        connected = _best(routes[family], prefix)
        assert connected["protocol"] == "connected", connected
        assert connected["nexthops"][0]["interfaceName"] == EXTERNAL, connected
    # The tenant imports the default routes only: the host routes stay in the external VRF.
    assert OWN_HOSTS[0] not in run.data["routes"][TENANT]["ipv4"]
    assert OWN_HOSTS[1] not in run.data["routes"][TENANT]["ipv6"]


def test_egress_allowed_port_crosses_from_the_own_address(run: VmResult) -> None:
    probes = _probes_by_name(run)
    rules = run.data["nft"]["postrouting"]
    assert f"snat ip to {OWN[0]}" in rules and f"snat ip6 to {OWN[1]}" in rules, rules
    seen = {
        # The firewall's own address: not the pod's, not the port's.
        **dict.fromkeys(("egress-80-v4", "egress-80-udp-v4"), OWN[0]),
        # The unique local pod address translated like IPv4, the global one routed as it is.
        **dict.fromkeys(("egress-80-tcp-ula", "egress-80-udp-ula"), OWN[1]),
        **dict.fromkeys(("egress-80-v6", "egress-80-udp-v6"), POD[1]),
    }
    got = {name: (probes[name]["connected"], probes[name].get("seen_source")) for name in seen}
    assert got == {name: (True, source) for name, source in seen.items()}, [probes[n] for n in seen]


def test_masquerade_after_the_own_addresses_are_released(run: VmResult) -> None:
    """Second step, same boot: the store's state after `fabric api release` of both own addresses
    (SNAT `to: masquerade`) compiled and applied over the first."""
    then = run.data["then"]
    assert then is not None, run.output[-2000:]
    assert "masquerade" in then["postrouting"] and "snat ip" not in then["postrouting"], then["postrouting"]
    probes = {p["name"]: p for p in then["probes"]}
    # Masquerade takes the egress port's address, though the own address is still plumbed.
    seen = {
        **{f"masq-80-{proto}-v4": FW_EXTERNAL[0] for proto in ("tcp", "udp")},
        **{f"masq-80-{proto}-ula": FW_EXTERNAL[1] for proto in ("tcp", "udp")},
        **{f"masq-80-{proto}-v6": POD[1] for proto in ("tcp", "udp")},
    }
    got = {name: (probes[name]["connected"], probes[name].get("seen_source")) for name in seen}
    assert got == {name: (True, source) for name, source in seen.items()}, [probes[n] for n in seen]


def test_egress_other_port_is_denied(run: VmResult) -> None:
    probes = _probes_by_name(run)
    for family in ("v4", "v6"):
        assert probes[f"local-81-{family}"]["connected"], "the server on tcp/81 must listen"
        assert not probes[f"egress-81-{family}"]["connected"], probes[f"egress-81-{family}"]


def test_load_balancer_port_open_from_outside_other_port_denied(run: VmResult) -> None:
    probes = _probes_by_name(run)
    for family, i in (("v4", 0), ("v6", 1)):
        allowed = probes[f"lb-443-{family}"]
        assert allowed["connected"], allowed
        assert allowed["seen_source"] == UPSTREAM[i], allowed  # inbound is not translated
        assert probes[f"local-8443-{family}"]["connected"], "the server on tcp/8443 must listen"
        assert not probes[f"lb-8443-{family}"]["connected"], probes[f"lb-8443-{family}"]


def test_nft_counters_match_the_traffic(run: VmResult) -> None:
    nft = run.data["nft"]
    assert nft["mode"] == "full"
    assert all(accepted for _, accepted, _ in nft["conditions"]), nft["conditions"]
    counters = nft["counters"]
    # Each denied probe is a SYN and its retry at least, per family; nothing else was dropped.
    assert counters["deny_eg"] >= 4 and counters["deny_in"] >= 4, counters
    assert counters["deny_other"] == counters["drop_invalid"] == 0, counters
    # One new flow per family and protocol through the allow rules (later packets are established):
    # egress TCP and UDP to port 80 (IPv6 from the global and the ULA address), ingress TCP to 443.
    # Allows are accepted by the rule of a profile's chain, `in4_<hash>` (ingress, IPv4) and so on.
    allows: dict[str, int] = {}
    for rule in nft["rules"]:
        found = re.fullmatch(r"(in|eg)([46])_[0-9a-f]+", rule["chain"])
        if found:
            chain = ("ingress" if found[1] == "in" else "egress") + found[2]
            allows[chain] = allows.get(chain, 0) + rule["packets"]
    assert allows == {"ingress4": 1, "egress4": 2, "ingress6": 1, "egress6": 4}, nft["rules"]
