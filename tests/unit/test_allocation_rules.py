"""The allocation rules (`fabric.core.allocation`), pure: dual attachment and the networks asked for."""

from __future__ import annotations

import pytest

from fabric.core.allocation import (
    AskedNetwork,
    Cable,
    check_dual_attached,
    check_firewall_networks,
    check_machine_networks,
)
from fabric.errors import ValidationError

A = Cable("leaf01", "Ethernet0", "lan0", "leaf", "r1")
B = Cable("leaf02", "Ethernet0", "lan1", "leaf", "r1")
PRIVATE = AskedNetwork("alpha-net", "private", "alpha")
INTERNET = AskedNetwork("internet", "external", None)
UNDERLAY = AskedNetwork("underlay", "underlay", None)


def test_two_leaves_of_one_rack_make_a_machine_allocatable() -> None:
    check_dual_attached("m1", [A, B])
    check_dual_attached("m1", [A, B, Cable("spine01", "Ethernet9", "lan2", "spine", "")])  # spines ignored


@pytest.mark.parametrize(
    ("cables", "shown"),
    [
        pytest.param([], "LLDP shows no leaf", id="uncabled"),
        pytest.param([A], "lan0->leaf01:Ethernet0", id="one-leaf"),
        pytest.param(
            [A, Cable("leaf01", "Ethernet4", "lan1", "leaf", "r1")], "lan1->leaf01:Ethernet4", id="same-leaf"
        ),
        pytest.param([A, Cable("leaf03", "Ethernet0", "lan1", "leaf", "r2")], "lan1->leaf03", id="two-racks"),
    ],
)
def test_anything_but_dual_attachment_is_refused_with_what_lldp_shows(
    cables: list[Cable], shown: str
) -> None:
    with pytest.raises(ValidationError, match="must be dual-attached") as refused:
        check_dual_attached("m1", cables)
    assert shown in str(refused.value) and refused.value.path == "name"


def test_a_machine_asks_for_its_projects_private_network_first_then_external_ones() -> None:
    check_machine_networks("alpha", [PRIVATE, INTERNET])
    with pytest.raises(ValidationError, match="private network of project beta") as refused:
        check_machine_networks("beta", [PRIVATE])
    assert refused.value.path == "networks[0]"
    with pytest.raises(ValidationError, match="only external ones may follow") as refused:
        check_machine_networks("alpha", [PRIVATE, INTERNET, UNDERLAY])
    assert refused.value.path == "networks[2]"


def test_a_firewall_serves_private_and_external_networks_only() -> None:
    check_firewall_networks([PRIVATE, INTERNET])
    with pytest.raises(ValidationError, match="not underlay") as refused:
        check_firewall_networks([PRIVATE, UNDERLAY])
    assert refused.value.path == "networks[1]"
