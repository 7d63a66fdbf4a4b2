"""Two FRR nodes in two namespaces, one veth: BGP unnumbered as on our fabric links
(docs/concepts.md#network).

Built once for the module.  Proves the rig pieces the later features stand on: namespaces and veth,
FRR with private dirs and the node's hostname, vtysh JSON, frr-reload.py against one instance only,
`vtysh -C`, and traffic between loopbacks over routes BGP installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fabric.errors import ApplyError
from lab.rig import FrrInstance, Rig, check_syntax, procs, run_and_expect, veth, wait_until

pytestmark = pytest.mark.needs("netns", "frr", "ping")

# node -> (ASN, loopback / router-id)
NODES = {"a": (65001, "10.0.0.1"), "b": (65002, "10.0.0.2")}
BGP_UP_TIMEOUT = 20.0  # measured ~1-2 s from start; generous for a loaded 2-core VM


def node_config(node: str) -> str:
    """The node's integrated frr.conf, in FRR's own canonical form (as running-config prints it).

    `ipv6 nd ra-interval 1`: an unnumbered peer that restarts learns our link-local address only from
    our next router advertisement; at FRR's default 10 s interval a restart took 7-10 s to re-establish,
    at 1 s it takes ~1 s.
    """
    asn, loopback = NODES[node]
    return f"""\
frr defaults traditional
hostname {node}
service integrated-vtysh-config
!
interface eth1
 ipv6 nd ra-interval 1
exit
!
interface lo
 ip address {loopback}/32
exit
!
router bgp {asn}
 bgp router-id {loopback}
 no bgp ebgp-requires-policy
 neighbor fabric peer-group
 neighbor fabric remote-as external
 neighbor fabric timers 2 8
 neighbor fabric capability extended-nexthop
 neighbor eth1 interface peer-group fabric
 !
 address-family ipv4 unicast
  redistribute connected
 exit-address-family
exit
!
"""


@pytest.fixture(scope="module")
def nodes(rig: Rig) -> dict[str, FrrInstance]:
    """Namespaces a and b linked a:eth1 <-> b:eth1, each running FRR with its config."""
    a, b = rig.netns("a"), rig.netns("b")
    veth(a, "eth1", b, "eth1")
    return {"a": rig.frr(a, config=node_config("a")), "b": rig.frr(b, config=node_config("b"))}


@pytest.mark.parametrize(("node", "peer"), [("a", "b"), ("b", "a")])
def test_bgp_unnumbered_session_is_established(nodes: dict[str, FrrInstance], node: str, peer: str) -> None:
    # The peer's hostname arrives through BGP's hostname capability: it is the UTS name we gave it.
    expected = {
        "ipv4Unicast": {
            "as": NODES[node][0],
            "peers": {"eth1": {"state": "Established", "remoteAs": NODES[peer][0], "hostname": peer}},
        }
    }
    run_and_expect(
        lambda: nodes[node].vtysh_json("show bgp summary json"),
        expected,
        timeout=BGP_UP_TIMEOUT,
        what=f"BGP session {node} -> {peer}",
    )


@pytest.mark.parametrize(("node", "peer"), [("a", "b"), ("b", "a")])
def test_peer_loopback_is_installed_via_link_local(
    nodes: dict[str, FrrInstance], node: str, peer: str
) -> None:
    prefix = f"{NODES[peer][1]}/32"
    expected = {
        prefix: [
            {
                "protocol": "bgp",
                "selected": True,
                "installed": True,
                # RFC 5549: an IPv4 route over an IPv6 link-local next hop on the veth.
                "nexthops": [{"afi": "ipv6", "interfaceName": "eth1", "fib": True, "active": True}],
            }
        ]
    }
    run_and_expect(
        lambda: nodes[node].vtysh_json(f"show ip route {prefix} json"),
        expected,
        timeout=BGP_UP_TIMEOUT,
        what=f"route to {prefix} on {node}",
    )


def test_ping_between_loopbacks(nodes: dict[str, FrrInstance]) -> None:
    a = nodes["a"].ns
    ping = ["ping", "-c1", "-W1", "-I", NODES["a"][1], NODES["b"][1]]
    # Both directions of the path must be installed (and the link-local neighbour resolved) first.
    wait_until(lambda: a.exec(ping).ok, timeout=BGP_UP_TIMEOUT, what="ping a -> b loopback")


@pytest.mark.parametrize("node", ["a", "b"])
def test_running_config_is_the_loaded_config(nodes: dict[str, FrrInstance], node: str) -> None:
    running = nodes[node].running_config()
    assert f"hostname {node}\n" in running
    assert "hostname vm" not in running and running.count("hostname ") == 1
    # The file is canonical: frr-reload.py finds nothing to change (its --test prints nothing).
    result = nodes[node].reload(test=True)
    assert result.ok, result.describe()
    assert result.stdout.strip() == ""
    assert nodes[node].delta().empty


def test_reload_applies_a_delta_to_one_instance_only(nodes: dict[str, FrrInstance], rig: Rig) -> None:
    a, b = nodes["a"], nodes["b"]
    changed = rig.tempdir("conf") / "a-static.conf"
    changed.write_text(node_config("a") + "ip route 192.0.2.0/24 blackhole\n!\n")

    delta = a.delta(changed)
    assert delta.to_delete == ()
    assert delta.to_add == ("ip route 192.0.2.0/24 blackhole",)

    result = a.reload(changed)
    assert result.ok, result.describe()
    assert a.delta(changed).empty
    assert "ip route 192.0.2.0/24 blackhole" in a.running_config()
    assert "192.0.2.0" not in b.running_config()
    # frr-reload.py's closing `write` went to a's own frr.conf.
    assert "ip route 192.0.2.0/24 blackhole" in a.conf_path.read_text()

    restore = a.reload(_write(rig.tempdir("conf") / "a.conf", node_config("a")))
    assert restore.ok, restore.describe()
    assert "192.0.2.0" not in a.running_config()


def test_check_syntax_reports_the_bad_line(rig: Rig) -> None:
    conf = rig.tempdir("conf")
    good = check_syntax(_write(conf / "good.conf", node_config("a")))
    assert good.ok, good.describe()
    bad = check_syntax(_write(conf / "bad.conf", node_config("a").replace("bgp router-id", "bgp routr-id")))
    assert bad.rc == 2
    assert "line 14: % Unknown command" in bad.stderr  # 14: " bgp routr-id ..."


def test_load_rejects_a_semantic_error(nodes: dict[str, FrrInstance]) -> None:
    # `vtysh -C` cannot see this (syntax is fine); the running daemons refuse it.
    broken = "router bgp 65001\n neighbor nosuchgroup interface peer-group nosuchgroup\nexit\n"
    with pytest.raises(ApplyError, match="FRR rejected the config"):
        nodes["a"].load(broken)
    # Leave a's frr.conf as the module's canonical config for the other tests.
    nodes["a"].load(node_config("a"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_restart_comes_back_with_its_config(nodes: dict[str, FrrInstance]) -> None:
    # Last in the module: it takes b down.
    b = nodes["b"]
    pids = [(d.pid, d.item.start) for d in b.daemons.values()]
    b.stop()
    assert not b.running()
    assert not [pid for pid, start in pids if procs.alive(pid, start)]

    b.start()

    assert b.delta(_write(b.dir / "expected.conf", node_config("b"))).empty
    run_and_expect(
        lambda: nodes["a"].vtysh_json("show bgp summary json"),
        {"ipv4Unicast": {"peers": {"eth1": {"state": "Established", "hostname": "b"}}}},
        timeout=BGP_UP_TIMEOUT,
        what="BGP session a -> b after b restarted",
    )
