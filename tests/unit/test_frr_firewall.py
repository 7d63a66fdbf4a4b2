"""The firewall's FRR as data: route leaking filters, no-export, families, instance order, the CLI."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from fabric.adapters.process import run
from fabric.core.frr_firewall import build_firewall_frr, instance_order
from fabric.core.frr_model import AddressFamily, Bgp, FrrConfig, FrrOptions, Match, RouteMap
from fabric.errors import ValidationError
from fabric.model import FirewallState

GOLDEN = Path(__file__).parents[1] / "golden"
FABRIC = shutil.which("fabric", path=str(Path(sys.executable).parent)) or "fabric"


def state(**changes: Any) -> FirewallState:
    data = json.loads((GOLDEN / "firewall_frr_example" / "firewall.json").read_text())
    data.update(changes)
    return FirewallState.model_validate(data)


def route_maps(config: FrrConfig) -> dict[str, RouteMap]:
    return {m.name: m for m in config.route_maps}


def af(config: FrrConfig, vrf: str | None, name: str) -> AddressFamily | None:
    bgp = next(b for b in config.bgp if b.vrf == vrf)
    return next((a for a in bgp.address_families if a.name == name), None)


def test_private_prefixes_enter_the_external_vrf_marked_no_export() -> None:
    config = build_firewall_frr(state(), FrrOptions())
    v4 = route_maps(config)["RM-Vrf104009-IMPORT-V4"]
    (entry,) = v4.entries
    assert entry.action == "permit"
    assert entry.matches == (
        Match("ip address prefix-list", "PL-Vrf104009-IMPORT-Vrf100010-V4"),
        Match("source-vrf", "Vrf100010"),
    )
    assert entry.sets == ("community no-export additive",)
    lists = {p.name: p for p in config.prefix_lists}
    # From a private VRF: the prefix and every more-specific (machines' /32s, pod routes).
    assert [(e.prefix, e.le) for e in lists["PL-Vrf104009-IMPORT-Vrf100010-V4"].entries] == [
        ("10.10.0.0/22", 32)
    ]
    assert [(e.prefix, e.le) for e in lists["PL-Vrf104009-IMPORT-Vrf100010-V6"].entries] == [
        ("2001:db8:10::/56", 128)
    ]


def test_the_tenant_vrf_imports_exactly_what_the_external_network_offers() -> None:
    config = build_firewall_frr(state(), FrrOptions())
    (entry,) = route_maps(config)["RM-Vrf100010-IMPORT-V4"].entries
    assert entry.sets == ()  # no no-export on the tenant side
    lists = {p.name: p for p in config.prefix_lists}
    # From an external VRF: exactly the default route, never the whole table behind it.
    assert [(e.prefix, e.le) for e in lists["PL-Vrf100010-IMPORT-Vrf104009-V4"].entries] == [
        ("0.0.0.0/0", None)
    ]
    ipv4 = af(config, "Vrf100010", "ipv4 unicast")
    assert ipv4 is not None
    assert (ipv4.import_route_map, ipv4.import_vrfs) == ("RM-Vrf100010-IMPORT-V4", ("Vrf104009",))


def test_a_family_without_import_prefixes_gets_no_import_lines() -> None:
    data = json.loads((GOLDEN / "firewall_frr_example" / "firewall.json").read_text())
    data["vrfs"][0]["imports"][0]["prefixes"] = ["0.0.0.0/0"]
    config = build_firewall_frr(FirewallState.model_validate(data), FrrOptions())
    assert af(config, "Vrf100010", "ipv6 unicast") is None
    assert "RM-Vrf100010-IMPORT-V6" not in route_maps(config)
    evpn = af(config, "Vrf100010", "l2vpn evpn")
    assert evpn is not None and evpn.advertise == ("ipv4 unicast", "ipv6 unicast")


def test_underlay_announces_router_id_and_vtep_once_and_evpn_needs_a_vrf() -> None:
    config = build_firewall_frr(state(), FrrOptions())
    ipv4 = af(config, None, "ipv4 unicast")
    assert ipv4 is not None and ipv4.networks == ("10.1.255.1/32",)
    assert [p.route_map_out for p in ipv4.peers] == ["RM-ANNOUNCE-V4"]
    evpn = af(config, None, "l2vpn evpn")
    assert evpn is not None and evpn.advertise_all_vni
    bare = build_firewall_frr(state(vrfs=[], snat=[]), FrrOptions())
    evpn = af(bare, None, "l2vpn evpn")
    assert evpn is not None and not evpn.advertise_all_vni
    assert [b.vrf for b in bare.bgp] == [None]


def test_instances_follow_the_order_frr_creates_them_in() -> None:
    def bgp(vrf: str, *imports: str) -> Bgp:
        return Bgp(1, "10.0.0.1", vrf, (), (), (AddressFamily("ipv4 unicast", import_vrfs=imports),))

    # A imports D, D imports C: FRR meets D (at A's import) before B, and C (at D's) before B.
    blocks = [bgp("A", "D"), bgp("B"), bgp("C"), bgp("D", "C")]
    assert [b.vrf for b in instance_order(blocks)] == ["A", "D", "C", "B"]
    # Already in that order: unchanged (a fixed point).
    ordered = instance_order(blocks)
    assert instance_order(ordered) == ordered


def test_netns_backend_is_refused_when_routes_are_leaked() -> None:
    with pytest.raises(ValidationError) as err:
        build_firewall_frr(state(), FrrOptions(netns_vrfs=True))
    assert err.value.path == "vrfs[Vrf100010].imports"
    assert "cannot leak" in err.value.reason


def test_cli_writes_the_golden_frr_conf(tmp_path: Path) -> None:
    case = GOLDEN / "firewall_frr_example"
    result = run(
        [FABRIC, "render", "firewall", "--state", str(case / "firewall.json"), "--out", str(tmp_path)]
    )
    assert result.ok, result.describe()
    assert (tmp_path / "frr.conf").read_text() == (case / "frr.conf").read_text()


def test_cli_refuses_an_import_from_an_unknown_vrf(tmp_path: Path) -> None:
    data = json.loads((GOLDEN / "firewall_frr_example" / "firewall.json").read_text())
    data["vrfs"][0]["imports"][0]["from"] = "Vrf999"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = tmp_path / "out"
    result = run([FABRIC, "render", "firewall", "--state", str(bad), "--out", str(out)])
    assert result.rc == 1
    assert "vrfs[Vrf100010].imports[Vrf999]: VRF Vrf999 is not in vrfs" in result.stderr
    assert not out.exists()
