"""The whole lab on mini.clab.yml (2 spines, 2 leaves, 3 machines, a firewall, an exit router) with its
control plane (fabric api, a switch daemon per switch, machine agents), brought up once for the module:
the underlay and EVPN rendered and applied by the daemons, LLDP into APPL_DB and cabling learned into the
API, the demo's allocations (the `fabric lab demo` code path) putting ports into tenant VRFs with pings
over VXLAN and tenant isolation, prefix filtering, freeing, the API going away and coming back, a switch
daemon restart that changes nothing, status/exec from another process, refusal of a second `up`, and a
`down` that leaves nothing.  Tests run in file order; the last one takes the lab down."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from fabric.errors import ApplyError
from lab import fabric_lab, failures
from lab.control import Api, restart_api, restart_switch_daemon, stop
from lab.demo import (
    ALLOCATIONS,
    ALPHA,
    BETA,
    DemoReport,
    allocate,
    bgp_sessions,
    call,
    free,
    lab_api,
    pings,
    run_demo,
    switches_converged,
)
from lab.intent import nic_mac
from lab.rig import list_netns, procs, run_and_expect, wait_until
from lab.sonic.base_config import APPL_DB, CONFIG_DB, STATE_DB
from lab.sonic.standin import REBIND_KEY
from lab.state import LAB_ROOT, LabError, LabState
from lab.topology import load_topology

pytestmark = pytest.mark.needs("netns", "frr", "redis", "lldp", "ping")

UP = 30.0  # BGP ~5 s and LLDP ~2 s from nothing; generous for a loaded 2-core VM
FABRIC = Path(sys.executable).parent / "fabric"
MINI_TOPOLOGY = load_topology(Path(__file__).resolve().parents[2] / "topologies" / "mini.clab.yml")
# leaf port -> (LLDP system name, its port ID, port ID subtype) from mini.clab.yml: servers announce their
# NIC's MAC (what the API matches), switches their port name.
LEAF_PORTS = {
    leaf: {
        **{f"Ethernet{4 * i}": (host, nic_mac(MINI_TOPOLOGY, host, nic), "3")
           for i, host in enumerate(("m1", "m2", "fw01", "m3"))},
        "Ethernet120": ("spine01", f"Ethernet{4 * nic}", "5"),
        "Ethernet124": ("spine02", f"Ethernet{4 * nic}", "5"),
    }
    for nic, leaf in enumerate(("leaf01", "leaf02"))
}  # fmt: skip


def db(lab: LabState, node: str, number: int) -> redis.Redis:
    return redis.Redis(unix_socket_path=lab.nodes[node].redis_socket or "", db=number, decode_responses=True)


def vtysh_json(lab: LabState, node: str, command: str) -> Any:
    result = fabric_lab.exec_in(lab.name, node, ["vtysh", "-c", command])
    if not result.ok:
        raise ApplyError(result.describe())
    return json.loads(result.stdout)


def _vtysh(lab: LabState, node: str, commands: tuple[str, ...]) -> tuple[bool, str]:
    argv = ["vtysh"]
    for command in commands:
        argv += ["-c", command]
    result = fabric_lab.exec_in(lab.name, node, argv)
    return result.ok and "%" not in result.stdout, result.describe() + result.stdout


def vtysh(lab: LabState, node: str, *commands: str) -> None:
    ok, text = _vtysh(lab, node, commands)
    assert ok, text


def vtysh_ok(lab: LabState, node: str, *commands: str) -> bool:
    """Whether FRR accepted every command (no error, no `%` complaint)."""
    return _vtysh(lab, node, commands)[0]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FABRIC), "lab", *args], capture_output=True, text=True, timeout=60, check=False
    )


def in_vrf(lab: LabState, node: str, vrf: str, *argv: str) -> subprocess.CompletedProcess[str]:
    path = Path(lab.nodes[node].vrf_dir or "") / vrf
    return subprocess.run(["nsenter", f"--net={path}", *argv], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("leaf", ["leaf01", "leaf02"])
def test_underlay_bgp_is_established_to_every_spine(lab: LabState, leaf: str) -> None:
    peers = {"Ethernet120": {"state": "Established", "hostname": "spine01"},
             "Ethernet124": {"state": "Established", "hostname": "spine02"}}  # fmt: skip
    run_and_expect(
        lambda: vtysh_json(lab, leaf, "show bgp summary json"),
        {"ipv4Unicast": {"peers": peers}},
        timeout=UP,
        retry_on=(ApplyError, ValueError),
        what=f"underlay BGP of {leaf}",
    )


def test_leaf_loopbacks_reach_each_other(lab: LabState) -> None:
    ping = ["ping", "-c1", "-W1", "-I", "10.255.1.1", "10.255.1.2"]
    wait_until(lambda: fabric_lab.exec_in(lab.name, "leaf01", ping).ok, timeout=UP, what="leaf01 -> leaf02")


@pytest.mark.parametrize("leaf", ["leaf01", "leaf02"])
def test_lldp_neighbours_appear_in_appl_db(lab: LabState, leaf: str) -> None:
    appl = db(lab, leaf, APPL_DB)
    expected = {
        port: {"lldp_rem_sys_name": name, "lldp_rem_port_id": remote, "lldp_rem_port_id_subtype": subtype}
        for port, (name, remote, subtype) in LEAF_PORTS[leaf].items()
    }
    run_and_expect(
        lambda: {port: appl.hgetall(f"LLDP_ENTRY_TABLE:{port}") for port in expected},
        expected,
        timeout=UP,
        what=f"LLDP_ENTRY_TABLE of {leaf}",
    )


def test_port_oper_state_is_in_appl_and_state_db(lab: LabState) -> None:
    appl, state = db(lab, "leaf01", APPL_DB), db(lab, "leaf01", STATE_DB)
    run_and_expect(
        lambda: {
            "linked": appl.hgetall("PORT_TABLE:Ethernet0"),
            "unlinked": appl.hgetall("PORT_TABLE:Ethernet60"),
            "state": state.hgetall("PORT_TABLE|Ethernet0"),
        },
        {
            "linked": {"oper_status": "up", "admin_status": "up", "mtu": "9100"},
            "unlinked": {"oper_status": "down"},
            "state": {"state": "ok", "netdev_oper_status": "up"},
        },
        timeout=10,
        what="PORT_TABLE of leaf01",
    )


def test_base_config_is_seeded_and_database_config_names_the_socket(lab: LabState) -> None:
    record = lab.nodes["leaf01"]
    config = db(lab, "leaf01", CONFIG_DB)
    assert config.hgetall("DEVICE_METADATA|localhost")["docker_routing_config_mode"] == "split"
    assert config.hgetall("VXLAN_TUNNEL|vtep") == {"src_ip": "10.255.1.1"}
    assert config.hgetall("VLAN_MEMBER|Vlan4000|Ethernet0") == {"tagging_mode": "untagged"}
    assert db(lab, "spine01", CONFIG_DB).hget("DEVICE_METADATA|localhost", "type") == "SpineRouter"
    dbconf = json.loads(Path(record.database_config or "").read_text())
    assert dbconf["INSTANCES"]["redis"]["unix_socket_path"] == record.redis_socket
    assert dbconf["DATABASES"]["CONFIG_DB"] == {"id": 4, "separator": "|", "instance": "redis"}
    assert dbconf["DATABASES"]["APPL_DB"] == {"id": 0, "separator": ":", "instance": "redis"}
    assert dbconf["DATABASES"]["STATE_DB"] == {"id": 6, "separator": "|", "instance": "redis"}


def test_status_and_exec_from_another_process(lab: LabState) -> None:
    result = cli("status", lab.name, "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    nodes = {node["name"]: node for node in report["nodes"]}
    assert set(nodes) == {
        "spine01",
        "spine02",
        "leaf01",
        "leaf02",
        "m1",
        "m2",
        "m3",
        "fw01",
        "exit01",
        "internet",
    }
    leaf = nodes["leaf01"]
    assert leaf["netns"] == f"lab.{lab.name}-leaf01" and leaf["netns_exists"]
    assert "10.255.1.1/32" in leaf["addresses"]["lo"]
    assert set(leaf["daemons"]) == {"redis", "zebra", "bgpd", "staticd", "lldpd", "sonic", "fabric-switch"}
    assert set(nodes["m1"]["daemons"]) == {"zebra", "bgpd", "staticd", "lldpd", "agent"}
    assert report["control"]["daemons"]["api"]["alive"] and report["control"]["api_url"].startswith("http")
    assert all(d["alive"] for node in nodes.values() for d in node["daemons"].values())
    assert leaf["bgp"] == {"Ethernet120": "Established", "Ethernet124": "Established"}

    mode = cli("exec", lab.name, "leaf01", "--", "redis-cli", "-n", "4", "hget", "DEVICE_METADATA|localhost",
               "docker_routing_config_mode")  # fmt: skip
    assert mode.stdout.strip() == "split", mode.stderr
    hostname = cli("exec", lab.name, "m1", "--", "hostname")
    assert hostname.stdout.strip() == "m1"


def cluster_services(lab: LabState) -> list[str]:
    """`namespace/name` of every Service the lab's Kubernetes stand-in serves."""
    token = Path(lab.kube_token_file or "").read_text().strip()
    request = urllib.request.Request(
        f"{lab.kube_url}/api/v1/services", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        items = json.loads(answer.read())["items"]
    return sorted(f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in items)


def test_kube_apply_and_delete_change_the_cluster_all_or_nothing(lab: LabState, tmp_path: Path) -> None:
    web = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"type": "LoadBalancer", "ports": [{"port": 443, "protocol": "TCP"}]}}  # fmt: skip
    stray = {**web, "metadata": {"name": "stray"}}  # no namespace: refused, and web with it
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all([web, stray]))
    refused = cli("kube", "apply", lab.name, "-f", str(bad))
    assert refused.returncode == 1
    assert "objects[1].metadata.namespace: Service stray needs a namespace" in refused.stderr
    assert "nothing applied" in refused.stderr and cluster_services(lab) == []
    good = tmp_path / "web.yaml"
    good.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [web]}))
    done = cli("kube", "apply", lab.name, "-f", str(good))
    assert done.returncode == 0, done.stderr
    assert "1 objects applied (Kubernetes stand-in" in done.stdout and cluster_services(lab) == ["shop/web"]
    assert cli("kube", "delete", lab.name, "-f", str(good)).returncode == 0
    assert cluster_services(lab) == []
    gone = cli("kube", "delete", lab.name, "-f", str(good))
    assert gone.returncode == 1 and "objects[0]: no Service shop/web" in gone.stderr


def test_up_refuses_when_the_lab_exists(lab: LabState) -> None:
    with pytest.raises(LabError, match="exists already"):
        fabric_lab.up(lab.topology_file)
    refused = cli("up", lab.topology_file)
    assert refused.returncode == 1 and f"fabric lab down {lab.name}" in refused.stderr


# ---- the control plane: fabric api, switch daemons, machine agents ------------------------------------


def api(lab: LabState) -> Api:
    return lab_api(LabState.load(lab.name))


def test_switches_run_the_rendered_config_and_report_it_applied(lab: LabState) -> None:
    wait_until(lambda: switches_converged(api(lab)), timeout=UP, what="every switch applied")
    text = fabric_lab.exec_in(lab.name, "leaf01", ["vtysh", "-c", "show running-config"]).stdout
    assert " neighbor FABRIC peer-group\n" in text and "route-map RM-CONNECTED permit 20" in text
    evpn = {"Ethernet120": {"state": "Established"}, "Ethernet124": {"state": "Established"}}
    run_and_expect(
        lambda: vtysh_json(lab, "leaf02", "show bgp l2vpn evpn summary json"),
        {"peers": evpn},
        timeout=UP,
        retry_on=(ApplyError, ValueError),
        what="EVPN sessions of leaf02",
    )


def test_cabling_is_learned_from_lldp_into_the_api(lab: LabState) -> None:
    expected = {
        "Ethernet0": {"neighbour_mac": nic_mac(MINI_TOPOLOGY, "m1", 0), "neighbour_switch": None},
        "Ethernet12": {"neighbour_mac": nic_mac(MINI_TOPOLOGY, "m3", 0)},
        "Ethernet120": {"neighbour_switch": "spine01", "neighbour_port": "Ethernet0"},
    }
    run_and_expect(
        lambda: {p["name"]: p for p in call(api(lab), "GET", "/v1/switches/leaf01")["ports"]},
        expected,
        timeout=UP,
        what="leaf01's cabling in the API",
    )


@pytest.fixture(scope="module")
def demo(lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    """The demo intent applied through the same code path as `fabric lab demo`."""
    return run_demo(LabState.load(lab.name), tmp_path_factory.mktemp("demo"), lambda _text: None)


def tenant_vrfs(lab: LabState, leaf: str) -> dict[str, str]:
    config = db(lab, leaf, CONFIG_DB)
    return {
        p: config.hget(f"INTERFACE|{p}", "vrf_name") or "" for p in ("Ethernet0", "Ethernet4", "Ethernet12")
    }


def test_demo_puts_ports_in_tenant_vrfs_on_both_leaves_and_isolates_tenants(
    lab: LabState, demo: DemoReport
) -> None:
    alpha, beta = (f"Vrf{call(api(lab), 'GET', f'/v1/networks/{n}')['vni']}" for n in (ALPHA, BETA))
    for leaf in ("leaf01", "leaf02"):
        assert tenant_vrfs(lab, leaf) == {"Ethernet0": alpha, "Ethernet4": alpha, "Ethernet12": beta}
        assert db(lab, leaf, STATE_DB).hgetall(f"VRF_TABLE|{alpha}") == {"state": "ok"}
    run_and_expect(  # the machine's BGP to both leaves (the second may still be coming up)
        lambda: vtysh_json(lab, "m1", "show bgp summary json"),
        {"ipv4Unicast": {"peers": {"lan0": {"state": "Established"}, "lan1": {"state": "Established"}}}},
        timeout=UP,
        retry_on=(ApplyError, ValueError),
        what="m1's BGP sessions",
    )
    assert demo.matrix[("m1", "m2")] and demo.matrix[("m2", "m1")]
    assert not any(demo.matrix[pair] for pair in demo.matrix if "m3" in pair)
    rows = {r["name"]: r for r in demo.fleet if r["kind"] == "switch"}
    assert all(r["applied_revision"] == r["desired_revision"] and not r["outdated"] for r in rows.values())


def set_link(lab: LabState, node: str, nic: str, state: str) -> None:
    assert fabric_lab.exec_in(lab.name, node, ["ip", "link", "set", nic, state]).ok


def test_machines_on_different_leaves_ping_over_vxlan(lab: LabState, demo: DemoReport) -> None:
    # m1 only on leaf01, m2 only on leaf02: their traffic must cross the fabric as EVPN type-5 / VXLAN.
    set_link(lab, "m1", "lan1", "down")
    set_link(lab, "m2", "lan0", "down")
    try:
        m2 = demo.ips["m2"]
        vrf = f"Vrf{call(api(lab), 'GET', f'/v1/networks/{ALPHA}')['vni']}"
        run_and_expect(
            lambda: vtysh_json(lab, "leaf01", f"show ip route vrf {vrf} {m2}/32 json"),
            {f"{m2}/32": [{"protocol": "bgp", "installed": True, "nexthops": [{"ip": "10.255.1.2"}]}]},
            timeout=UP,
            retry_on=(ApplyError, ValueError),
            what="m2's route on leaf01 via leaf02's VTEP",
        )
        wait_until(lambda: pings(lab, "m1", demo.ips["m1"], m2), timeout=UP, what="m1 -> m2 over VXLAN")
    finally:
        set_link(lab, "m1", "lan1", "up")
        set_link(lab, "m2", "lan0", "up")


def evpn_prefix_routes(lab: LabState, node: str) -> str:
    result = fabric_lab.exec_in(lab.name, node, ["vtysh", "-c", "show bgp l2vpn evpn route type prefix"])
    assert result.ok, result.describe()
    return result.stdout


@pytest.mark.parametrize("spine", ["spine01", "spine02"])
def test_spines_peer_with_the_exit_router_their_document_declares(lab: LabState, spine: str) -> None:
    # exit01 is declared on the spines in the store (switches[].exits, lab.intent); the daemon renders it.
    run_and_expect(
        lambda: vtysh_json(lab, spine, "show bgp summary json"),
        {"ipv4Unicast": {"peers": {"Ethernet28": {"state": "Established", "hostname": "exit01"}}}},
        timeout=UP,
        retry_on=(ApplyError, ValueError),
        what=f"{spine}'s BGP session to exit01",
    )
    running = fabric_lab.exec_in(lab.name, spine, ["vtysh", "-c", "show running-config"]).stdout
    assert "neighbor Ethernet28 route-map RM-Ethernet28-EVPN-IN in" in running


def test_the_internet_default_routes_reach_the_leaves_and_no_tenant_route_leaves(
    lab: LabState, demo: DemoReport
) -> None:
    # exit01 announces 0.0.0.0/0 and ::/0 as EVPN type-5 routes of the internet VNI; the spines pass
    # them on.  Towards exit01 the spines pass only that VNI: tenant routes (alpha's type-5) never reach it.
    defaults = ("[5]:[0]:[0]:[0.0.0.0]", "[5]:[0]:[0]:[::]")
    wait_until(
        lambda: all(d in evpn_prefix_routes(lab, "leaf01") for d in defaults),
        timeout=UP,
        what="the internet's default routes on leaf01",
    )
    alpha = call(api(lab), "GET", f"/v1/networks/{ALPHA}")["vni"]
    assert f":{alpha}" in evpn_prefix_routes(lab, "leaf01")  # the tenant's routes exist in the fabric
    heard = evpn_prefix_routes(lab, "exit01")
    assert f":{alpha}" not in heard and demo.ips["m1"] not in heard, heard


def test_a_prefix_the_machine_does_not_own_is_filtered_by_the_leaf(lab: LabState, demo: DemoReport) -> None:
    # TEST-ONLY: m1 turns rogue by hand (its own outbound filter removed, a foreign prefix announced).
    rogue = (
        "configure terminal",
        f"router bgp {demo.allocations['m1']['asn']}",
        "address-family ipv4 unicast",
    )
    # (A blackhole route backs the network statement: FRR announces only networks its RIB holds.)
    vtysh(lab, "m1", "configure terminal", "ip route 10.99.0.0/24 Null0")
    vtysh(lab, "m1", *rogue, "network 10.99.0.0/24", "no neighbor TOR route-map RM-ANNOUNCE-V4 out")
    try:
        run_and_expect(
            lambda: vtysh_json(lab, "m1", "show bgp ipv4 neighbors lan0 advertised-routes json"),
            {"advertisedRoutes": {"10.99.0.0/24": {}}},
            timeout=UP,
            retry_on=(ApplyError, ValueError),
            what="m1 announcing 10.99.0.0/24",
        )
        vrf = f"Vrf{call(api(lab), 'GET', f'/v1/networks/{ALPHA}')['vni']}"
        for leaf in ("leaf01", "leaf02"):
            routes = vtysh_json(lab, leaf, f"show bgp vrf {vrf} ipv4 unicast json")["routes"]
            assert "10.99.0.0/24" not in routes and f"{demo.ips['m1']}/32" in routes
        assert "10.99.0.0/24" not in vtysh_json(lab, "m2", "show bgp ipv4 unicast json")["routes"]
    finally:
        vtysh(lab, "m1", *rogue, "no network 10.99.0.0/24", "neighbor TOR route-map RM-ANNOUNCE-V4 out")
        vtysh(lab, "m1", "configure terminal", "no ip route 10.99.0.0/24 Null0")


SWITCHES_AND_MACHINES = ("spine01", "spine02", "leaf01", "leaf02", "m1", "m2")
# After a path change the lab's netns VRF backend may drop a remote VTEP's router MAC until the SONiC
# stand-in re-binds the L3VNI (checked every 2 s, then 10 s of grace: docs/lab.md): after a repair the
# test waits that out, so that what follows starts from a settled data plane.
SETTLE = 12.0
LEAF_GAP = 3.0  # seconds: generous; today's gaps are in docs/guides/switch-failures.md
# A spine's failures and silent failures are measured on a lab of m1 and m2 only (`python -m bench
# failover`): in this fuller lab the stream across the spines did not always come back within 16 s, and
# a frozen leaf did not always stop the stream; causes not found yet (the guide says so).


def established(state: LabState) -> set[str]:
    return {
        f"{node}:{session}"
        for node in SWITCHES_AND_MACHINES
        for session, how in bgp_sessions(state, node).items()
        if how == "Established"
    }


def leaf01_loses_its_links(lab: LabState, demo: DemoReport, scenario: str) -> failures.Outcome:
    """The stream m1 -> m2 while leaf01 loses every link for 6 s; answered once every BGP session that
    was up before is up again and the data plane has settled."""
    state = LabState.load(lab.name)
    before = established(state)
    outcome = failures.measure(
        state,
        scenario,
        ("m1", demo.ips["m1"]),
        ("m2", demo.ips["m2"]),
        lambda: failures.links_down(state, "leaf01"),
        during=6.0,
    )
    print(outcome.line())
    wait_until(lambda: before <= established(state), timeout=60, what="every BGP session back")
    time.sleep(SETTLE)
    return outcome


def test_a_leaf_losing_all_its_links_costs_the_tenant_a_short_gap(lab: LabState, demo: DemoReport) -> None:
    """Both machines are dual-attached: the stream goes on through leaf02; every session comes back."""
    outcome = leaf01_loses_its_links(lab, demo, "leaf01 loses all links")
    assert outcome.longest_gap < LEAF_GAP, outcome


def test_a_leaf_failing_while_the_api_is_down_is_routed_around_as_well(
    lab: LabState, demo: DemoReport
) -> None:
    """The data plane needs neither the API nor the switch daemons to route around a failure."""
    state = LabState.load(lab.name)
    stop(state, state.daemons, "api")
    try:
        assert not _api_up(state)
        outcome = leaf01_loses_its_links(lab, demo, "leaf01 loses all links, fabric api down")
    finally:
        restart_api(state, stopped=True)
    assert outcome.longest_gap < LEAF_GAP, outcome


def vrf_links(lab: LabState, leaf: str, vrf: str) -> list[str]:
    """The devices in VRF namespace `vrf` of `leaf`."""
    return [link["ifname"] for link in json.loads(in_vrf(lab, leaf, vrf, "ip", "-j", "link").stdout or "[]")]


def test_freeing_returns_ports_to_pxe_and_removes_the_vrf(lab: LabState, demo: DemoReport) -> None:
    beta = f"Vrf{call(api(lab), 'GET', f'/v1/networks/{BETA}')['vni']}"
    free(api(lab), "machine", "m3")
    for leaf in ("leaf01", "leaf02"):
        config = db(lab, leaf, CONFIG_DB)
        wait_until(lambda c=config: not c.exists(f"VRF|{beta}"), timeout=UP, what=f"{beta} gone on {leaf}")
        state = db(lab, leaf, STATE_DB)
        wait_until(lambda s=state: not s.exists(f"VRF_TABLE|{beta}"), timeout=UP, what=f"{beta} state gone")
        wait_until(
            lambda leaf=leaf: (
                f" vrf {beta}\n"
                not in fabric_lab.exec_in(lab.name, leaf, ["vtysh", "-c", "show running-config"]).stdout
            ),
            timeout=UP,
            what=f"router bgp vrf {beta} gone on {leaf}",
        )
        # The lab keeps the (pre-made) namespace, empty: nothing but its loopback is left in it.
        wait_until(lambda leaf=leaf: vrf_links(lab, leaf, beta) == ["lo"], timeout=UP, what=f"{beta} empty")
        run_and_expect(  # the add-port phase comes after the VRF's removal
            lambda c=config: c.hgetall("VLAN_MEMBER|Vlan4000|Ethernet12"),
            {"tagging_mode": "untagged"},
            timeout=UP,
            what=f"Ethernet12 in Vlan4000 in {leaf}'s CONFIG_DB",
        )
        run_and_expect(
            lambda leaf=leaf: json.loads(
                fabric_lab.exec_in(lab.name, leaf, ["ip", "-j", "link", "show", "Ethernet12"]).stdout
                or "[{}]"
            )[0],
            {"ifname": "Ethernet12", "master": "Vlan4000"},
            timeout=UP,
            what=f"Ethernet12 back in the PXE VLAN on {leaf}",
        )
    wait_until(lambda: switches_converged(api(lab)), timeout=UP, what="switches applied the free")
    assert pings(lab, "m1", demo.ips["m1"], demo.ips["m2"])


def frr_fallbacks(lab: LabState, leaf: str) -> list[str]:
    """Why the leaf's switch daemon fell back from the FRR fast path to frr-reload.py (its log)."""
    log = Path(LabState.load(lab.name).node(leaf).switch_config or "").with_suffix(".log")
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [entry["frr_fallback"] for entry in lines if "frr_fallback" in entry]


@pytest.mark.parametrize("leaf", ["leaf01", "leaf02"])
def test_leaves_reach_frr_by_the_fast_path_after_the_first_apply(
    lab: LabState, demo: DemoReport, leaf: str
) -> None:
    # Up to here tenant VRFs were added (with the stand-in's L3VNI re-bind), machines allocated and a
    # VRF removed: after the very first apply (no last good config yet) every one took the delta.
    wait_until(lambda: not db(lab, leaf, STATE_DB).hlen(REBIND_KEY), timeout=UP, what="re-binds over")
    assert frr_fallbacks(lab, leaf) == ["no last good config"]


def test_api_down_keeps_the_data_plane_and_daemons_converge_when_it_returns(
    lab: LabState, demo: DemoReport
) -> None:
    state = LabState.load(lab.name)
    stop(state, state.daemons, "api")
    try:
        assert not _api_up(state)
        for _ in range(3):  # the data plane does not depend on the API
            assert pings(lab, "m1", demo.ips["m1"], demo.ips["m2"])
    finally:
        restart_api(state, stopped=True)
    allocate(lab_api(state), ALLOCATIONS[2])  # m3 into beta again, through the restarted API
    wait_until(lambda: switches_converged(lab_api(state)), timeout=UP, what="switches applied after restart")
    beta = f"Vrf{call(lab_api(state), 'GET', f'/v1/networks/{BETA}')['vni']}"
    for leaf in ("leaf01", "leaf02"):
        assert tenant_vrfs(lab, leaf)["Ethernet12"] == beta


def _api_up(state: LabState) -> bool:
    try:
        call(lab_api(state), "GET", "/v1/status")
    except OSError:
        return False
    return True


def owned_config(lab: LabState, leaf: str) -> dict[str, dict[str, str]]:
    config = db(lab, leaf, CONFIG_DB)
    tables = ("VRF", "VLAN", "VLAN_INTERFACE", "VXLAN_TUNNEL_MAP", "INTERFACE", "VLAN_MEMBER", "PORT")
    keys = [k for t in tables for k in config.keys(f"{t}|*")]
    return {k: config.hgetall(k) for k in sorted(keys)}


def vnis_bound(lab: LabState, leaf: str) -> bool:
    """The stand-in's `no vni`/`vni` re-bind of every new L3VNI on `leaf` is over (its lab-only STATE_DB
    hash is empty) and FRR holds `vni N` in every tenant VRF of CONFIG_DB."""
    config, state = db(lab, leaf, CONFIG_DB), db(lab, leaf, STATE_DB)
    if state.hlen(REBIND_KEY):
        return False
    running = fabric_lab.exec_in(lab.name, leaf, ["vtysh", "-c", "show running-config"]).stdout
    vrfs = [k.split("|", 1)[1] for k in config.keys("VRF|*")]
    return all(f"vrf {v}\n vni {v.removeprefix('Vrf')}\n" in running for v in vrfs)


def test_restarting_a_switch_daemon_changes_nothing(lab: LabState, demo: DemoReport) -> None:
    state = LabState.load(lab.name)
    wait_until(lambda: switches_converged(lab_api(state)), timeout=UP, what="converged before")
    wait_until(lambda: vnis_bound(lab, "leaf01"), timeout=UP, what="the stand-in's VNI re-bind done")
    before = owned_config(lab, "leaf01")
    frr_before = fabric_lab.exec_in(lab.name, "leaf01", ["vtysh", "-c", "show running-config"]).stdout
    log = Path(state.nodes["leaf01"].switch_config or "").with_suffix(".log")
    syncs_before = log.read_text().count('"sync done"')
    restart_switch_daemon(state, "leaf01")
    # The new daemon's first sync is done (planned against the switch, found nothing to write).
    wait_until(lambda: log.read_text().count('"sync done"') > syncs_before, timeout=UP, what="first sync")
    assert owned_config(lab, "leaf01") == before
    frr_after = fabric_lab.exec_in(lab.name, "leaf01", ["vtysh", "-c", "show running-config"]).stdout
    changed = difflib.unified_diff(frr_before.splitlines(), frr_after.splitlines(), lineterm="", n=1)
    assert frr_after == frr_before, "\n".join(changed)
    # Its status report follows the sync (heartbeat): the API shows it applied shortly after.
    wait_until(lambda: switches_converged(lab_api(state)), timeout=UP, what="converged after the restart")
    assert pings(lab, "m1", demo.ips["m1"], demo.ips["m2"])


# ---- the stand-in on its own -----------------------------------------------------------------------------


def test_set_and_delete_in_one_burst_leave_nothing(lab: LabState) -> None:
    # VLANs outside the partition's range (the switch daemon leaves them alone), bridges in the switch.
    config, state = db(lab, "leaf01", CONFIG_DB), db(lab, "leaf01", STATE_DB)
    burst = config.pipeline(transaction=True)
    burst.hset("VLAN|Vlan900", mapping={"vlanid": "900"})
    burst.delete("VLAN|Vlan900")
    burst.execute()
    config.hset("VLAN|Vlan901", mapping={"vlanid": "901"})  # a later change: processed after the burst
    wait_until(lambda: state.exists("VLAN_TABLE|Vlan901"), timeout=10, what="Vlan901 realised")
    assert not state.exists("VLAN_TABLE|Vlan900")
    assert not fabric_lab.exec_in(lab.name, "leaf01", ["ip", "link", "show", "Vlan900"]).ok
    config.delete("VLAN|Vlan901")
    wait_until(lambda: not state.exists("VLAN_TABLE|Vlan901"), timeout=10, what="Vlan901 removed")


# ---- last: down ------------------------------------------------------------------------------------------


def test_down_removes_everything_the_lab_created(lab: LabState) -> None:
    now = LabState.load(lab.name)  # daemons restarted by earlier tests have new PIDs
    named = {f"{node}/{d}": ps for node, rec in now.nodes.items() for d, ps in rec.daemons.items()}
    named.update(now.daemons)
    pids = list(named.values())
    assert pids
    assert not [name for name, (pid, start) in named.items() if not procs.alive(pid, start)], "daemons died"
    result = cli("down", lab.name)
    assert result.returncode == 0, result.stderr
    assert not [pid for pid, start in pids if procs.alive(pid, start)]
    assert not [name for name in list_netns() if name.startswith(lab.prefix + "-")]
    assert not [m for m in procs.mountpoints() if lab.prefix in m]
    assert not list(Path("/tmp").glob(f"{lab.prefix}-*"))
    assert not (LAB_ROOT / lab.prefix).exists()
    again = cli("down", lab.name)
    assert again.returncode == 1 and "no lab named" in again.stderr
