"""FRR builders and templates: names, limits and options (the full texts are in the golden suite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabric.core.capabilities import capabilities, for_sonic
from fabric.core.frr_filters import MAX_PREFIX_CAP, maximum_prefix
from fabric.core.frr_model import FrrOptions
from fabric.errors import ValidationError
from fabric.model import SwitchState, load
from fabric.model.prefixes import AllowedPrefix
from fabric.render.frr import render_switch_frr

EXAMPLES = Path(__file__).parents[1] / "data" / "examples"


def leaf() -> SwitchState:
    return load(SwitchState, json.loads((EXAMPLES / "leaf01.json").read_text()))


@pytest.mark.parametrize(
    ("allow", "family", "limit"),
    [
        (["10.0.0.1/32"], 4, 1),
        (["10.0.0.1/32", "10.1.0.0/24"], 4, 2),
        (["10.244.0.0/16 le 24"], 4, 511),
        (["10.244.0.0/16 le 32"], 4, MAX_PREFIX_CAP),
        (["10.0.0.1/32"], 6, None),
        (["2001:db8::/48 le 49", "2001:db8:1::1/128"], 6, 4),
    ],
)
def test_maximum_prefix_is_what_the_filter_can_pass(allow: list[str], family: int, limit: int | None) -> None:
    entries = [AllowedPrefix.model_validate(_parse(a)) for a in allow]
    assert maximum_prefix(entries, family) == limit


def _parse(text: str) -> dict[str, object]:
    parts = text.split()
    return {"prefix": parts[0], "le": int(parts[2])} if len(parts) == 3 else {"prefix": text}


def test_machine_port_filters_are_named_after_the_port() -> None:
    text = render_switch_frr(leaf())
    assert "ip prefix-list PL-Ethernet0-IN-V4 seq 20 permit 10.244.0.0/16 le 24\n" in text
    assert "ipv6 prefix-list PL-Ethernet4-IN-V6 seq 10 permit 2001:db8:20::/48 le 64\n" in text
    assert "  neighbor Ethernet0 route-map RM-Ethernet0-IN-V6 in\n" in text
    assert "route-map RM-Ethernet8-EVPN-OUT permit 20\n match evpn vni 104009\n" in text
    assert "route-map RM-CONNECTED deny 10\n match interface eth0\n" in text
    # unprovisioned and unused ports get no BGP
    for port in ("Ethernet12", "Ethernet16", "Ethernet20"):
        assert f"neighbor {port} " not in text


def test_family_without_allowed_prefixes_denies_everything() -> None:
    state = leaf()
    ports = [p.model_dump() for p in state.ports]
    for p in ports:
        if p["name"] == "Ethernet4":
            p["allow"] = ["10.20.0.7/32"]
    text = render_switch_frr(load(SwitchState, state.model_dump() | {"ports": ports}))
    assert "route-map RM-Ethernet4-IN-V6 deny 10\nexit\n" in text
    assert "PL-Ethernet4-IN-V6" not in text


def test_netns_backend_option_adds_the_netns_line() -> None:
    text = render_switch_frr(leaf(), FrrOptions(netns_vrfs=True))
    assert "vrf Vrf100010\n vni 100010\n netns /run/netns/Vrf100010\nexit-vrf\n" in text
    assert " netns " not in render_switch_frr(leaf())


def test_capability_table() -> None:
    assert capabilities().version == "8.4"
    assert capabilities("8.5.4").version == "8.5"
    assert capabilities("10.0.1").version == "10.0"
    assert for_sonic("202405").version == "8.5"
    assert for_sonic("202511").version == "10.3"
    with pytest.raises(ValidationError, match=r"7\.5"):
        capabilities("7.5")


@pytest.mark.parametrize(
    ("frr_version", "sonic_version", "fpm"),
    [
        ("8.4.4", "202405", False),  # the lab: Debian's FRR, whatever the document says
        (None, "202405", True),  # no device version known: the release SONiC 202405 ships (8.5)
        ("10.0.1", "", True),
        (None, "", False),
    ],
)
def test_fpm_lines_follow_the_frr_release(frr_version: str | None, sonic_version: str, fpm: bool) -> None:
    data = json.loads((EXAMPLES / "leaf01.json").read_text())
    data["switch"]["sonic_version"] = sonic_version
    text = render_switch_frr(load(SwitchState, data), FrrOptions(frr_version=frr_version))
    lines = text.splitlines()
    assert ("fpm address 127.0.0.1" in lines) is fpm
    assert ("no fpm use-next-hop-groups" in lines) is fpm
    if fpm:  # where FRR prints them: after logging, before the vtysh service line
        assert lines.index("fpm address 127.0.0.1") == lines.index("service integrated-vtysh-config") - 2
