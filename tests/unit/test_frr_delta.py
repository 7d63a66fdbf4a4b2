"""The FRR delta (pure): parsing canonical frr.conf, the commands between two configs and their order,
what it refuses, and the running-config comparison.  Real FRR applies these deltas in
tests/integration/switch/test_frr_fast_path.py."""

from __future__ import annotations

import pytest

from fabric.core.frr_delta import (
    DeltaUnsupported,
    Node,
    config_difference,
    frr_delta,
    parse,
    running_as_file,
    same_config,
)
from tests.golden.cases import ROOT

BASE = """frr defaults traditional
hostname leaf01
service integrated-vtysh-config
!
vrf Vrf1
 vni 1001
exit-vrf
!
vrf Vrf2
 vni 1002
exit-vrf
!
router bgp 65000
 neighbor FABRIC peer-group
 neighbor Ethernet120 interface peer-group FABRIC
 !
 address-family l2vpn evpn
  neighbor FABRIC activate
  advertise-all-vni
 exit-address-family
exit
!
router bgp 65000 vrf Vrf1
 neighbor MACHINE peer-group
 neighbor Ethernet0 interface peer-group MACHINE
 !
 address-family ipv4 unicast
  neighbor Ethernet0 maximum-prefix 513
 exit-address-family
exit
!
router bgp 65000 vrf Vrf2
 no bgp ebgp-requires-policy
exit
!
ip prefix-list PL-A seq 10 permit 10.0.0.0/24
!
route-map RM-A permit 10
 match ip address prefix-list PL-A
exit
!
end
"""


def test_parse_builds_contexts_and_skips_separators() -> None:
    nodes = parse("frr version 8.4.4\n" + BASE)
    assert [n.line for n in nodes][:3] == [
        "frr defaults traditional",
        "hostname leaf01",
        "service integrated-vtysh-config",
    ]
    vrf1 = next(n for n in nodes if n.line == "router bgp 65000 vrf Vrf1")
    assert vrf1.close == "exit"
    family = vrf1.children[-1]
    assert family == Node(
        "address-family ipv4 unicast", (Node("neighbor Ethernet0 maximum-prefix 513"),), "exit-address-family"
    )
    assert next(n for n in nodes if n.line == "vrf Vrf2").close == "exit-vrf"


def test_every_golden_parses_and_prints_back() -> None:
    for path in sorted(ROOT.glob("*/frr*.conf")):
        text = path.read_text()
        lines = [line for node in parse(text) for line in node.block()]
        expected = [x for x in text.splitlines() if x.strip() not in ("!", "end")]
        assert lines == expected, path


def test_equal_configs_need_no_commands() -> None:
    assert frr_delta(BASE, BASE) == ""


# (id, BASE changed to this, the commands from BASE to it): each id says the rule the case pins down.
DELTAS = [
    pytest.param(
        BASE.replace("vrf Vrf2\n vni 1002\nexit-vrf\n!\n", "").replace(
            "router bgp 65000 vrf Vrf2\n no bgp ebgp-requires-policy\nexit\n!\n", ""
        ),
        ["vrf Vrf2", " no vni 1002", "exit-vrf", "no router bgp 65000 vrf Vrf2", "no vrf Vrf2"],
        id="leaving-vrf-unbinds-its-vni-before-its-bgp-instance-goes",
    ),
    pytest.param(
        BASE.replace("maximum-prefix 513", "maximum-prefix 1"),
        [
            "router bgp 65000 vrf Vrf1",
            " address-family ipv4 unicast",
            "  no neighbor Ethernet0 maximum-prefix 513",
            " exit-address-family",
            "exit",
            "router bgp 65000 vrf Vrf1",
            " address-family ipv4 unicast",
            "  neighbor Ethernet0 maximum-prefix 1",
            " exit-address-family",
            "exit",
        ],
        id="replaced-line-is-negated-before-it-is-set",
    ),
    pytest.param(
        BASE.replace(
            " neighbor MACHINE peer-group\n neighbor Ethernet0 interface peer-group MACHINE\n !\n"
            " address-family ipv4 unicast\n  neighbor Ethernet0 maximum-prefix 513\n exit-address-family\n",
            "",
        ),
        [
            "router bgp 65000 vrf Vrf1",
            " address-family ipv4 unicast",
            "  no neighbor Ethernet0 maximum-prefix 513",
            " exit-address-family",
            " no neighbor Ethernet0 interface peer-group MACHINE",
            " no neighbor MACHINE peer-group",
            "exit",
        ],
        id="leaving-neighbour-loses-its-family-lines-first-and-members-go-before-the-group",
    ),
    pytest.param(
        BASE.replace(
            "ip prefix-list PL-A seq 10 permit 10.0.0.0/24\n",
            "vrf Vrf3\n vni 1003\nexit-vrf\n!\n"
            "router bgp 65000 vrf Vrf3\n no bgp ebgp-requires-policy\nexit\n!\n"
            "ip prefix-list PL-A seq 10 permit 10.0.0.0/24\n",
        ).replace("permit 10.0.0.0/24", "permit 10.0.0.0/16"),
        [
            "no ip prefix-list PL-A seq 10 permit 10.0.0.0/24",
            "vrf Vrf3",
            " vni 1003",
            "exit-vrf",
            "router bgp 65000 vrf Vrf3",
            " no bgp ebgp-requires-policy",
            "exit",
            "ip prefix-list PL-A seq 10 permit 10.0.0.0/16",
        ],
        id="added-blocks-come-whole-in-the-new-files-order",
    ),
    pytest.param(
        BASE.replace(
            "router bgp 65000 vrf Vrf2\n no bgp ebgp-requires-policy\nexit", "router bgp 65000 vrf Vrf2\nexit"
        ),
        ["router bgp 65000 vrf Vrf2", " bgp ebgp-requires-policy", "exit"],
        id="negating-a-no-line-sets-it",
    ),
    pytest.param(
        BASE.replace(
            " !\n address-family l2vpn evpn\n  neighbor FABRIC activate\n  advertise-all-vni\n"
            " exit-address-family\n",
            "",
        ),
        [
            "router bgp 65000",
            " address-family l2vpn evpn",
            "  no advertise-all-vni",
            "  no neighbor FABRIC activate",
            " exit-address-family",
            "exit",
        ],
        id="whole-sub-context-that-leaves-is-emptied",
    ),
]


@pytest.mark.parametrize(("after", "commands"), DELTAS)
def test_delta_commands_and_their_order(after: str, commands: list[str]) -> None:
    assert after != BASE  # each case really changes something
    assert frr_delta(BASE, after).splitlines() == commands


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (BASE, BASE.replace("frr defaults traditional", "frr defaults datacenter"), "restart"),
        (BASE, BASE + "router bgp 1\n neighbor X peer-group\n", "not closed"),
        (BASE, BASE.replace("hostname leaf01\n", "hostname leaf01\n  vni 7\n"), "indentation"),
        (BASE, BASE + "ip prefix-list PL-A seq 10 permit 10.0.0.0/24\n", "repeated"),
        (BASE, BASE.replace(" vni 1001\n", "\t vni 1001\n"), "tab"),
    ],
)
def test_unsupported_input_is_refused(old: str, new: str, why: str) -> None:
    with pytest.raises(DeltaUnsupported, match=why):
        frr_delta(old, new)


def test_running_config_compares_up_to_frrs_additions_and_top_level_order() -> None:
    shown = "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\n" + BASE
    assert running_as_file(shown) == BASE
    assert same_config(shown, BASE)
    blocks = BASE.split("!\n")
    swapped = "!\n".join([*blocks[:-3], blocks[-2], blocks[-3], blocks[-1]])
    assert same_config(shown, swapped)  # route-map before prefix-list: same config
    assert not same_config(shown, BASE.replace("maximum-prefix 513", "maximum-prefix 1"))
    assert not same_config(shown.replace(" vni 1001\n", " vni 1001\n extra\n"), BASE)


def test_config_difference_names_the_blocks_that_differ() -> None:
    shown = BASE.replace(" vni 1001\n", "")
    assert config_difference(shown, BASE) == ("+ vrf Vrf1 | exit-vrf; - vrf Vrf1 |  vni 1001 | exit-vrf")
    assert config_difference(BASE, BASE) == "same blocks"
    assert config_difference(BASE, " vrf X\n").startswith("not comparable: ")  # bad indentation
