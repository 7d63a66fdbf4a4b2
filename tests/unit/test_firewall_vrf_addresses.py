"""`FirewallVrf.addresses`: the firewall's own addresses in an external VRF, and SNAT `to` them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fabric.errors import ValidationError
from fabric.model import FirewallState, json_schemas, load

EXAMPLE = Path(__file__).parents[1] / "data" / "examples" / "firewall-alpha.json"


def doc(addresses: list[str], to: Any = "masquerade", vrf: int = 1) -> dict[str, Any]:
    d = json.loads(EXAMPLE.read_text())
    d["vrfs"][vrf]["addresses"] = addresses
    d["snat"][0]["to"] = to
    return d


def problems(d: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as err:
        load(FirewallState, d)
    return list(err.value.problems)


def test_addresses_sorted_and_snat_to_them() -> None:
    state = load(FirewallState, doc(["2001:db8:ffff::7", "203.0.113.7", "203.0.113.7"], ["203.0.113.7"]))
    assert [str(a) for a in state.vrfs[1].addresses] == ["203.0.113.7", "2001:db8:ffff::7"]


def test_bad_addresses_are_named() -> None:
    assert problems(doc(["198.51.100.1"])) == [
        ("vrfs[Vrf104009].addresses", "198.51.100.1 is outside the VRF's prefixes")
    ]
    assert problems(doc(["10.10.0.1"], vrf=0)) == [
        ("vrfs[Vrf100010].addresses", "only external VRFs have the firewall's own addresses")
    ]
    assert problems(doc([], ["203.0.113.9"])) == [
        ("snat[0].to", "203.0.113.9 is not an address of the firewall in Vrf104009 (vrfs[].addresses)")
    ]


def test_schema_documents_the_field() -> None:
    vrf = json_schemas()["firewall"]["$defs"]["FirewallVrf"]["properties"]["addresses"]
    assert "own addresses" in vrf["description"] and vrf["type"] == "array"
