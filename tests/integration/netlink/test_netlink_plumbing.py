"""The firewall's kernel plumbing verbs against a real kernel, in a throwaway namespace of the rig.

This machine has no kernel VRF devices (docs/concepts.md#lab): here the VRF verb must refuse clearly and
non-retryably, and everything else (bridge, vxlan, ports, removal, the plan against observed links) is
exercised for real.  Where a kernel has VRFs (the qemu VM), the VRF test checks the device instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from fabric.adapters.netlink import Netlink
from fabric.core.plumbing import EnsureL3vni, EnsureLoopback, EnsureVrf, RemoveLink, plan_plumbing
from fabric.errors import ApplyError
from fabric.model import FirewallState
from lab.rig import Netns, Rig, wait_until

pytestmark = pytest.mark.needs("netns")

VTEP = "10.1.255.1"


@pytest.fixture(scope="module")
def ns(rig: Rig) -> Netns:
    return rig.netns("nl", router=False)


@pytest.fixture
def nl(ns: Netns) -> Iterator[Netlink]:
    with Netlink(ns.name) as netlink:
        yield netlink
        for link in netlink.links():  # each test starts from an empty namespace
            if link.name != "lo":
                netlink.remove_link(link.name)


def brport(ns: Netns, name: str) -> dict[str, object]:
    data = json.loads(ns.ip("-j", "-d", "link", "show", name).stdout)
    slave: dict[str, object] = data[0]["linkinfo"]["info_slave_data"]
    return slave


def test_vrf_device_is_made_or_refused_naming_the_missing_kernel_feature(nl: Netlink) -> None:
    try:
        nl.ensure_vrf("Vrf100010", 100010)
    except ApplyError as exc:
        assert not exc.retryable
        assert exc.phase == "netlink:vrf"
        assert "no VRF devices" in str(exc) and "CONFIG_NET_VRF" in str(exc)
        assert nl.link("Vrf100010") is None  # nothing half-made
    else:  # a kernel with VRFs (the VM): the device is there, with its table, up
        link = nl.link("Vrf100010")
        assert link is not None and (link.kind, link.table, link.up) == ("vrf", 100010, True)


def test_l3vni_devices_are_made_idempotently(nl: Netlink, ns: Netns) -> None:
    for _ in range(2):
        nl.ensure_bridge("br100010")
        nl.ensure_vxlan("vx100010", 100010, VTEP)
        nl.ensure_vxlan_port("vx100010", "br100010")
    vxlan, bridge = nl.link("vx100010"), nl.link("br100010")
    assert vxlan is not None and bridge is not None
    assert (vxlan.kind, vxlan.vni, vxlan.local, vxlan.master) == ("vxlan", 100010, VTEP, "br100010")
    assert bridge.kind == "bridge"
    port = brport(ns, "vx100010")
    assert port["neigh_suppress"] is True and port["learning"] is False
    details = json.loads(ns.ip("-j", "-d", "link", "show", "vx100010").stdout)[0]["linkinfo"]["info_data"]
    assert details["port"] == 4789 and details["learning"] is False


def test_a_device_of_another_kind_or_vni_is_refused_not_changed(nl: Netlink) -> None:
    nl.ensure_bridge("vx100020")
    with pytest.raises(ApplyError) as err:
        nl.ensure_vxlan("vx100020", 100020, VTEP)
    assert not err.value.retryable and "not a vxlan" in str(err.value)
    nl.remove_link("vx100020")
    nl.ensure_vxlan("vx100020", 100020, VTEP)
    with pytest.raises(ApplyError, match="not VNI 100021"):
        nl.ensure_vxlan("vx100020", 100021, VTEP)


def test_l3vni_without_its_vrf_makes_nothing(nl: Netlink) -> None:
    with pytest.raises(ApplyError) as err:
        nl.ensure_l3vni("Vrf100010", 100010, VTEP, "br100010", "vx100010")
    assert err.value.retryable and "VRF device Vrf100010 is missing" in str(err.value)
    assert [link.name for link in nl.links()] == ["lo"]


def test_member_of_a_missing_master_is_retryable(nl: Netlink) -> None:
    nl.ensure_bridge("br100030")
    with pytest.raises(ApplyError) as err:
        nl.ensure_member("br100030", "Vrf100030")
    assert err.value.retryable and "Vrf100030 does not exist" in str(err.value)


def test_remove_is_idempotent(nl: Netlink) -> None:
    nl.ensure_bridge("br100040")
    nl.remove_l3vni("br100040", "vx100040")  # the vxlan never existed: ENODEV is fine
    nl.remove_link("br100040")
    assert nl.link("br100040") is None


def test_plan_against_observed_links_repairs_and_removes(nl: Netlink) -> None:
    state = FirewallState.model_validate(
        {
            "schema_version": 1,
            "revision": 1,
            "firewall": {"name": "fw", "asn": 4210000100, "router_id": VTEP, "vtep": VTEP},
            "uplinks": ["lan0"],
            "vrfs": [{"name": "Vrf100010", "vni": 100010, "kind": "private"}],
        }
    )
    nl.ensure_bridge("br100010")
    nl.ensure_vxlan("vx100010", 100010, "10.9.9.9")  # a stale VTEP address
    nl.ensure_bridge("br100099")  # ours (by name) but no VRF asks for it
    nl.ensure_bridge("docker0")  # not ours: left alone
    plan = plan_plumbing(state, nl.links())
    assert plan == [
        RemoveLink("vx100010"),
        RemoveLink("br100099"),
        EnsureLoopback(frozenset({f"{VTEP}/32"})),
        EnsureVrf("Vrf100010", 100010),
        EnsureL3vni("Vrf100010", 100010, VTEP, "br100010", "vx100010"),
    ]
    nl.apply(a for a in plan if isinstance(a, RemoveLink | EnsureLoopback))
    names = {link.name for link in nl.links()}
    assert names == {"lo", "br100010", "docker0"}
    lo = nl.link("lo")
    assert lo is not None and {"127.0.0.1/8", f"{VTEP}/32"} <= lo.addresses  # added; the kernel's own stays
    try:  # the rest needs kernel VRFs (absent here; the VM has them)
        nl.apply(plan_plumbing(state, nl.links()))
    except ApplyError as exc:
        assert exc.phase == "netlink:vrf" and not exc.retryable
    else:
        assert plan_plumbing(state, nl.links()) == []


def test_addresses_are_made_exact_and_link_local_ones_are_left_alone(nl: Netlink, ns: Netns) -> None:
    """What `ensure_vrf` does to a VRF device's addresses (tried on a bridge: no VRFs here)."""
    nl.ensure_bridge("br100030")
    nl.ensure_addresses("br100030", frozenset({"203.0.113.7/32", "2001:db8:ffff::7/128"}))
    nl.ensure_addresses("br100030", frozenset({"203.0.113.8/32", "2001:db8:ffff::7/128"}))
    link = nl.link("br100030")
    assert link is not None and link.addresses == {"203.0.113.8/32", "2001:db8:ffff::7/128"}
    ns.ip("link", "set", "br100030", "up")  # an up device gets a link-local address from the kernel
    wait_until(lambda: "fe80:" in ns.ip("-6", "addr", "show", "br100030").stdout, timeout=5, what="fe80")
    nl.ensure_addresses("br100030", frozenset())
    link = nl.link("br100030")
    assert link is not None and link.addresses == frozenset()
    assert "fe80:" in ns.ip("-6", "addr", "show", "br100030").stdout  # never ours to remove
