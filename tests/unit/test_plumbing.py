"""The firewall's kernel plumbing plan: derived names and tables, observe-then-act, removal order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabric.core.plumbing import (
    EnsureL3vni,
    EnsureLoopback,
    EnsureVrf,
    Link,
    RemoveLink,
    bridge_name,
    phase_plan,
    plan_plumbing,
    table_id,
    vxlan_name,
)
from fabric.errors import ValidationError
from fabric.model import FirewallState

EXAMPLE = Path(__file__).parents[1] / "data" / "examples" / "firewall-alpha.json"
VTEP = "10.1.255.1"


def state() -> FirewallState:
    return FirewallState.model_validate(json.loads(EXAMPLE.read_text()))


LO = Link("lo", None, up=True, addresses=frozenset({"127.0.0.1/8", f"{VTEP}/32"}))


def in_sync() -> list[Link]:
    links = [LO, Link("lan0", "veth", up=True)]
    for name, vni in (("Vrf100010", 100010), ("Vrf104009", 104009)):
        links += [
            Link(name, "vrf", table=vni, up=True),
            Link(f"br{vni}", "bridge", master=name, up=True),
            Link(f"vx{vni}", "vxlan", master=f"br{vni}", vni=vni, local=VTEP, up=True),
        ]
    return links


def test_names_fit_ifnamsiz_for_every_vni() -> None:
    assert (vxlan_name(16777215), bridge_name(1)) == ("vx16777215", "br1")
    assert max(len(vxlan_name(16777215)), len(bridge_name(16777215))) <= 15


@pytest.mark.parametrize("vni", [253, 254, 255])
def test_reserved_tables_are_refused(vni: int) -> None:
    with pytest.raises(ValidationError) as err:
        table_id(vni, f"Vrf{vni}")
    assert err.value.path == f"vrfs[Vrf{vni}].vni"


def test_nothing_to_do_when_in_sync() -> None:
    assert plan_plumbing(state(), in_sync()) == []


def test_from_nothing_vrfs_come_before_their_l3vnis() -> None:
    assert plan_plumbing(state(), [Link("lo", None, up=True)]) == [
        EnsureLoopback(frozenset({f"{VTEP}/32"})),
        EnsureVrf("Vrf100010", 100010),
        EnsureVrf("Vrf104009", 104009),
        EnsureL3vni("Vrf100010", 100010, VTEP, "br100010", "vx100010"),
        EnsureL3vni("Vrf104009", 104009, VTEP, "br104009", "vx104009"),
    ]


def test_the_underlay_address_is_added_to_lo_and_nothing_of_lo_is_removed() -> None:
    # The VTEP (= router-id here) is the source of the VXLAN packets and what FRR announces: it must
    # be on lo.  An address someone else put there stays.
    other = Link("lo", None, up=True, addresses=frozenset({"127.0.0.1/8", "192.0.2.1/32"}))
    links = [other if link.name == "lo" else link for link in in_sync()]
    assert plan_plumbing(state(), links) == [EnsureLoopback(frozenset({f"{VTEP}/32"}))]
    assert phase_plan(state(), plan_plumbing(state(), links)).before == [
        EnsureLoopback(frozenset({f"{VTEP}/32"}))
    ]


def test_wrong_table_is_remade_and_a_down_bridge_is_repaired() -> None:
    links = [
        Link("Vrf100010", "vrf", table=7, up=True) if link.name == "Vrf100010" else link for link in in_sync()
    ]
    links = [Link("br104009", "bridge", master="Vrf104009") if k.name == "br104009" else k for k in links]
    assert plan_plumbing(state(), links) == [
        RemoveLink("Vrf100010"),
        EnsureVrf("Vrf100010", 100010),
        EnsureL3vni("Vrf104009", 104009, VTEP, "br104009", "vx104009"),
    ]


def test_devices_no_vrf_asks_for_go_l3vni_first_and_foreign_ones_stay() -> None:
    links = [
        *in_sync(),
        Link("Vrf100099", "vrf", table=100099, up=True),
        Link("br100099", "bridge", master="Vrf100099", up=True),
        Link("vx100099", "vxlan", master="br100099", vni=100099, local=VTEP, up=True),
        Link("mgmt", "vrf", table=10, up=True),
        Link("br-lan", "bridge", up=True),
    ]
    assert plan_plumbing(state(), links) == [
        RemoveLink("br100099"),
        RemoveLink("vx100099"),
        RemoveLink("Vrf100099"),
    ]


def test_phases_around_frr_replace_before_and_retire_after() -> None:
    links = [
        link
        if link.name != "vx100010"
        else Link("vx100010", "vxlan", master="br100010", vni=7, local=VTEP, up=True)
        for link in in_sync()
    ] + [Link("br100099", "bridge", up=True), Link("Vrf100099", "vrf", table=100099, up=True)]
    plan = phase_plan(state(), plan_plumbing(state(), links))
    # The wrong vxlan is made again before FRR needs it; devices no VRF asks for go after FRR.
    assert plan.before == [
        RemoveLink("vx100010"),
        EnsureL3vni("Vrf100010", 100010, VTEP, "br100010", "vx100010"),
    ]
    assert plan.after == [RemoveLink("br100099"), RemoveLink("Vrf100099")]
    assert phase_plan(state(), []).empty


def test_vrf_addresses_are_host_routes_and_a_difference_ensures_the_vrf() -> None:
    doc = json.loads(EXAMPLE.read_text())
    doc["vrfs"][1]["addresses"] = ["203.0.113.7", "2001:db8:ffff::7"]
    with_addresses = FirewallState.model_validate(doc)
    want = EnsureVrf("Vrf104009", 104009, frozenset({"203.0.113.7/32", "2001:db8:ffff::7/128"}))
    assert plan_plumbing(with_addresses, in_sync()) == [want]
    links = [link if link.name != "Vrf104009" else Link(link.name, "vrf", table=104009, up=True,
             addresses=want.addresses) for link in in_sync()]  # fmt: skip
    assert plan_plumbing(with_addresses, links) == []
