"""Desired-state builders: store records in, validated documents out, deterministic hashes."""

from __future__ import annotations

import ipaddress

import pytest

from fabric.core.state import (
    ExitRecord,
    MachineRecord,
    NetworkRecord,
    PartitionRecord,
    PortRecord,
    SwitchRecord,
    SwitchView,
    build_firewall_state,
    build_machine_state,
    build_switch_state,
)
from fabric.errors import ValidationError

PART = PartitionRecord("fra", 100000, 199999, 1001, 2000, 4000, ("192.168.0.10",), "192.168.0.1")
TENANT = NetworkRecord("alpha", "private", 100010, ("10.10.0.0/22",), extra_prefixes=("10.244.0.0/16 le 24",))
INTERNET = NetworkRecord("internet", "external", 104009, ("203.0.113.0/24",), ("0.0.0.0/0",), nat=True)
UNDERLAY = NetworkRecord("underlay", "underlay", None, ("10.1.0.0/16",))
MACHINE = MachineRecord(
    "m-alpha-1", "machine", 4210000005, ("10.10.0.5",), (TENANT,), ("203.0.113.10",), ("lan0", "lan1")
)
FIREWALL = MachineRecord(
    "fw-alpha", "firewall", 4210000100, ("10.1.255.1",), (TENANT, INTERNET, UNDERLAY), (), ("lan0", "lan1")
)


def leaf_view() -> SwitchView:
    ports = (
        PortRecord("Ethernet120", neighbour_switch="spine01", neighbour_port="Ethernet0"),
        PortRecord("Ethernet0", neighbour_machine="m-alpha-1"),
        PortRecord("Ethernet8", neighbour_machine="fw-alpha"),
        PortRecord("Ethernet12", neighbour_machine="m-free"),
        PortRecord("Ethernet16"),
    )
    machines = {"m-alpha-1": MACHINE, "fw-alpha": FIREWALL, "m-free": MachineRecord("m-free", None)}
    return SwitchView(PART, SwitchRecord("leaf01", "leaf", "r1", 4200000011, "10.0.0.11"), ports, machines)


def test_leaf_ports_get_roles_vrfs_filters_and_firewalls() -> None:
    state = build_switch_state(leaf_view())
    assert state.uplinks == ["Ethernet120"]
    roles = {p.name: p.role for p in state.ports}
    assert roles == {
        "Ethernet0": "machine",
        "Ethernet8": "firewall",
        "Ethernet12": "unprovisioned",
        "Ethernet16": "unprovisioned",
        "Ethernet120": "uplink",
    }
    port = state.port("Ethernet0")
    assert port is not None and port.vrf == "Vrf100010" and port.description == "m-alpha-1"
    assert [str(a.prefix) for a in port.allow] == ["10.10.0.5/32", "10.244.0.0/16", "203.0.113.10/32"]
    assert [v.name for v in state.vrfs] == ["Vrf100010"]
    assert state.firewalls[0].vnis == [100010, 104009]
    assert [str(a.prefix) for a in state.firewalls[0].allow] == ["10.1.255.1/32"]
    assert state.pxe_vlan == 4000 and [str(a) for a in state.dhcp_relay] == ["192.168.0.10"]
    assert build_switch_state(leaf_view()).sealed().hash == state.sealed().hash


def test_spine_has_uplinks_and_unused_ports_only() -> None:
    view = SwitchView(
        PART,
        SwitchRecord("spine01", "spine", "r0", 4200000001, "10.0.0.1"),
        (PortRecord("Ethernet0", neighbour_switch="leaf01"), PortRecord("Ethernet4")),
    )
    state = build_switch_state(view)
    assert state.uplinks == ["Ethernet0"] and state.switch.vtep is None
    assert [(p.name, p.role, p.admin) for p in state.ports] == [
        ("Ethernet0", "uplink", "up"),
        ("Ethernet4", "unused", "down"),
    ]


def test_a_declared_exit_router_is_peered_on_its_port() -> None:
    exit01 = ExitRecord("exit01", "Ethernet28", (104009,), ("10.9.0.1", "2001:db8:9::1"))
    gone = ExitRecord("exit02", "Ethernet32", (), ("10.9.0.2",))  # its networks were deleted
    view = SwitchView(
        PART,
        SwitchRecord("spine01", "spine", "r0", 4200000001, "10.0.0.1", exits=(exit01, gone)),
        (
            PortRecord("Ethernet0", neighbour_switch="leaf01"),
            PortRecord("Ethernet28"),
            PortRecord("Ethernet32"),
        ),
    )
    state = build_switch_state(view)
    assert [(p.name, p.role, p.admin, p.description) for p in state.ports] == [
        ("Ethernet0", "uplink", "up", "leaf01"),
        ("Ethernet28", "exit", "up", "exit01"),
        ("Ethernet32", "unused", "down", "exit02"),
    ]
    assert [(e.port, e.vnis, [str(a.prefix) for a in e.allow]) for e in state.exits] == [
        ("Ethernet28", [104009], ["10.9.0.1/32", "2001:db8:9::1/128"])
    ]


def test_an_external_vrf_announces_what_leaves_it_untranslated() -> None:
    # Global IPv6 leaves as it is: the exit router must learn the way back, so it is leaked without
    # no-export.  Private IPv4 and ULA pods are translated: they stay no-export.
    dual = NetworkRecord(
        "alpha", "private", 100010, ("10.10.0.0/22", "2001:db8:10::/56"), extra_prefixes=("fd00:10:244::/56",)
    )
    firewall = MachineRecord(
        "fw-alpha", "firewall", 4210000100, ("10.1.255.1",), (dual, INTERNET, UNDERLAY), (), ("lan0", "lan1")
    )
    external = build_firewall_state(firewall).vrfs[1]
    (imp,) = external.imports
    assert imp.no_export and [str(n) for n in imp.announced] == ["2001:db8:10::/56"]
    untranslated = NetworkRecord("internet", "external", 104009, ("203.0.113.0/24",), ("0.0.0.0/0",))
    firewall = MachineRecord(
        "fw-alpha", "firewall", 4210000100, ("10.1.255.1",), (dual, untranslated, UNDERLAY), (), ("lan0",)
    )
    (imp,) = build_firewall_state(firewall).vrfs[1].imports
    assert imp.announced == imp.prefixes  # without nat everything is routed as it is


def test_an_external_vrf_announces_the_projects_load_balancer_ips() -> None:
    # A load-balancer IP is held by a machine of the project, which announces it into its private VRF;
    # the firewall leaks it into the external network it belongs to, announced, and nowhere else.
    dual = NetworkRecord("alpha", "private", 100010, ("10.10.0.0/22",))
    other = NetworkRecord("peering", "external", 104010, ("198.18.0.0/24",), ("198.18.0.0/15",), nat=True)
    firewall = MachineRecord(
        "fw-alpha",
        "firewall",
        4210000100,
        ("10.1.255.1",),
        (dual, INTERNET, other, UNDERLAY),
        project_ips=("203.0.113.10", "198.18.0.7"),
        nics=("lan0", "lan1"),
    )
    vrfs = {v.name: v for v in build_firewall_state(firewall).vrfs}
    (internet,) = vrfs["Vrf104009"].imports
    assert [str(n) for n in internet.prefixes] == ["10.10.0.0/22", "203.0.113.10/32"]
    assert [str(n) for n in internet.announced] == ["203.0.113.10/32"]
    (peering,) = vrfs["Vrf104010"].imports
    assert [str(n) for n in peering.announced] == ["198.18.0.7/32"]
    assert [str(n) for i in vrfs["Vrf100010"].imports for n in i.prefixes] == ["0.0.0.0/0", "198.18.0.0/15"]


def test_machine_state() -> None:
    state = build_machine_state(MACHINE)
    assert state.vrf is not None and state.vrf.name == "Vrf100010"
    assert str(state.machine.router_id) == "10.10.0.5"
    assert [str(p) for p in state.announce] == ["10.10.0.5/32", "10.244.0.0/16"]
    with pytest.raises(ValidationError, match="not allocated"):
        build_machine_state(MachineRecord("m-free", None))


def test_firewall_state_leaks_and_nats() -> None:
    state = build_firewall_state(FIREWALL)
    assert str(state.firewall.router_id) == "10.1.255.1"
    private, external = state.vrfs
    assert private.kind == "private" and external.kind == "external"
    assert private.imports[0].from_vrf == "Vrf104009"
    # The pod CIDR (an extra prefix) too: replies to its translated traffic are routed there.
    assert external.imports[0].no_export and [str(p) for p in external.imports[0].prefixes] == [
        "10.10.0.0/22",
        "10.244.0.0/16",
    ]
    assert state.snat[0].vrf == "Vrf104009"
    assert [str(p) for p in state.snat[0].sources] == ["10.10.0.0/22", "10.244.0.0/16"]


def test_diff_names_list_items_by_key() -> None:
    from fabric.core.state.diff import diff

    before = {"revision": 1, "ports": [{"name": "Ethernet0", "role": "unprovisioned"}], "vrfs": []}
    after = {"revision": 2, "ports": [{"name": "Ethernet0", "role": "machine"}], "vrfs": [{"name": "Vrf1"}]}
    assert diff(before, after) == [
        ("ports[Ethernet0].role", "unprovisioned", "machine"),
        ("revision", 1, 2),
        ("vrfs[Vrf1]", None, {"name": "Vrf1"}),
    ]


def test_firewall_address_in_an_external_network_is_its_snat_source() -> None:
    # The store attaches IPs to a machine by its `ips`; one inside the external network's prefixes is
    # the firewall's own address there (today only allocation attaches IPs: the underlay's).
    fw = MachineRecord(
        "fw-alpha", "firewall", 4210000100, ("10.1.255.1", "203.0.113.7"), (TENANT, INTERNET, UNDERLAY),
        (), ("lan0", "lan1"),
    )  # fmt: skip
    state = build_firewall_state(fw)
    private, external = state.vrfs
    assert [str(a) for a in external.addresses] == ["203.0.113.7"] and private.addresses == []
    assert state.snat[0].to == [ipaddress.ip_address("203.0.113.7")]
    assert build_firewall_state(FIREWALL).snat[0].to == "masquerade"
    assert build_firewall_state(FIREWALL).vrfs[1].addresses == []


DUAL_TENANT = NetworkRecord(
    "alpha",
    "private",
    100010,
    ("10.10.0.0/22", "2001:db8:10::/56"),
    extra_prefixes=("fd00:10:244::/56 le 64",),
)
DUAL_INTERNET = NetworkRecord(
    "internet", "external", 104009, ("203.0.113.0/24", "2001:db8:113::/64"), ("0.0.0.0/0", "::/0"), nat=True
)


def _dual_firewall(*own: str, internet: NetworkRecord = DUAL_INTERNET) -> MachineRecord:
    return MachineRecord(
        "fw-alpha", "firewall", 4210000100, ("10.1.255.1", *own), (DUAL_TENANT, internet, UNDERLAY),
        (), ("lan0", "lan1"),
    )  # fmt: skip


def _snat_rules(fw: MachineRecord) -> list[tuple[list[str], str | list[str]]]:
    return [
        ([str(s) for s in r.sources], r.to if isinstance(r.to, str) else [str(a) for a in r.to])
        for r in build_firewall_state(fw).snat
    ]


def test_unique_local_ipv6_is_translated_and_global_ipv6_routed_as_it_is() -> None:
    # One rule per family: the ULA pod prefix leaves translated, 2001:db8:10::/56 untranslated.
    assert _snat_rules(_dual_firewall()) == [
        (["10.10.0.0/22"], "masquerade"),
        (["fd00:10:244::/56"], "masquerade"),
    ]


def test_each_family_translates_to_an_own_address_of_its_own_or_masquerades() -> None:
    assert _snat_rules(_dual_firewall("203.0.113.7")) == [
        (["10.10.0.0/22"], ["203.0.113.7"]),
        (["fd00:10:244::/56"], "masquerade"),
    ]
    assert _snat_rules(_dual_firewall("203.0.113.7", "2001:db8:113::7")) == [
        (["10.10.0.0/22"], ["203.0.113.7"]),
        (["fd00:10:244::/56"], ["2001:db8:113::7"]),
    ]


def test_no_rule_for_a_family_the_external_network_does_not_reach() -> None:
    ipv4_only = NetworkRecord("internet", "external", 104009, ("203.0.113.0/24",), ("0.0.0.0/0",), nat=True)
    assert _snat_rules(_dual_firewall(internet=ipv4_only)) == [(["10.10.0.0/22"], "masquerade")]
    untranslated = NetworkRecord("internet", "external", 104009, DUAL_INTERNET.prefixes, ("::/0",), nat=False)
    assert _snat_rules(_dual_firewall(internet=untranslated)) == []
