"""The contract: examples validate, inconsistent documents are refused with the path of each problem,
and the hash depends on content only."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fabric.errors import ValidationError
from fabric.model import (
    DOCUMENTS,
    FirewallState,
    MachineState,
    SwitchState,
    canonical_json,
    json_schemas,
    load,
    load_file,
)

EXAMPLES = Path(__file__).parents[1] / "data" / "examples"
KIND_OF = {"leaf01": SwitchState, "spine01": SwitchState, "machine-alpha-1": MachineState}
KIND_OF["firewall-alpha"] = FirewallState


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


@pytest.mark.parametrize("name", sorted(KIND_OF))
def test_examples_validate_and_round_trip(name: str) -> None:
    doc = load_file(KIND_OF[name], EXAMPLES / f"{name}.json")
    again = load(KIND_OF[name], json.loads(doc.model_dump_json(by_alias=True)))
    assert again == doc
    assert again.sealed().hash == doc.sealed().hash


def test_every_example_is_used() -> None:
    assert {p.stem for p in EXAMPLES.glob("*.json")} == set(KIND_OF)


def test_hash_ignores_revision_and_input_order() -> None:
    data = example("leaf01")
    shuffled = copy.deepcopy(data)
    shuffled["ports"].reverse()
    shuffled["vrfs"].reverse()
    shuffled["uplinks"].reverse()
    _port(shuffled, "Ethernet0")["allow"].reverse()
    shuffled["revision"] = 99
    a, b = load(SwitchState, data).sealed(), load(SwitchState, shuffled).sealed()
    assert a.hash == b.hash
    assert canonical_json(a) == canonical_json(b)
    assert b.revision == 99


def test_hash_changes_with_content() -> None:
    data = example("leaf01")
    before = load(SwitchState, data).sealed().hash
    data["ports"][0]["mtu"] = 1500
    assert load(SwitchState, data).sealed().hash != before


def test_sealed_document_refuses_edited_content() -> None:
    sealed = json.loads(load(SwitchState, example("leaf01")).sealed().model_dump_json())
    assert load(SwitchState, sealed).hash == sealed["hash"]
    sealed["ports"][0]["mtu"] = 1500
    with pytest.raises(ValidationError) as exc:
        load(SwitchState, sealed)
    assert exc.value.path == "hash"


def test_ports_come_in_natural_order() -> None:
    doc = load(SwitchState, example("leaf01"))
    names = [p.name for p in doc.ports]
    assert names == ["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12", "Ethernet16", "Ethernet20",
                     "Ethernet120", "Ethernet124"]  # fmt: skip


def test_allow_shorthand_and_dedup() -> None:
    data = example("leaf01")
    data["ports"][2]["allow"] = ["10.244.0.0/16 le 24", {"prefix": "10.244.0.0/16", "le": 24}, "::/0"]
    port = load(SwitchState, data).port("Ethernet0")
    assert port is not None
    assert [(str(a.prefix), a.le) for a in port.allow] == [("10.244.0.0/16", 24), ("::/0", None)]


def _mutate(base: str, fn: Any) -> dict[str, Any]:
    data = example(base)
    fn(data)
    return data


def _port(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in data["ports"] if p["name"] == name)


# (case, base example, mutation, expected (path, words in the reason))
SWITCH_CASES: list[tuple[str, str, Any, tuple[str, str]]] = [
    ("undefined vrf", "leaf01", lambda d: _port(d, "Ethernet0").update(vrf="Vrf100099"),
     ("ports[Ethernet0].vrf", "Vrf100099 is not defined")),
    ("vni outside range", "leaf01", lambda d: d["vrfs"].append({"name": "Vrf5", "vni": 5}),
     ("vrfs[Vrf5].vni", "outside vni_range")),
    ("duplicate port", "leaf01", lambda d: d["ports"].append({"name": "Ethernet12", "role": "unused"}),
     ("ports[Ethernet12]", "listed 2 times")),
    ("space in a name", "leaf01", lambda d: _port(d, "Ethernet0").update(description="a b"),
     ("ports[2].description", "characters")),
    ("newline in a name", "leaf01", lambda d: d["switch"].update(name="leaf01\nhostname x"),
     ("switch.name", "characters")),
    ("quote in a port", "leaf01", lambda d: d["ports"][0].update(name='Eth"0'),
     ("ports[0].name", "characters")),
    ("vrf name not derived", "leaf01", lambda d: d["vrfs"][0].update(name="Vrf1"),
     ("vrfs[0].name", "must be Vrf100010")),
    ("machine port without vrf", "leaf01", lambda d: _port(d, "Ethernet0").pop("vrf"),
     ("ports[2].vrf", "needs the VRF")),
    ("vrf on unprovisioned port", "leaf01", lambda d: _port(d, "Ethernet12").update(vrf="Vrf100010"),
     ("ports[5].vrf", "only machine ports")),
    ("uplink not a port", "leaf01", lambda d: d["uplinks"].append("Ethernet200"),
     ("uplinks[Ethernet200]", "not in ports")),
    ("firewall port without entry", "leaf01", lambda d: d.update(firewalls=[]),
     ("ports[Ethernet8].role", "no entry in firewalls")),
    ("firewall on a machine port", "leaf01", lambda d: d["firewalls"][0].update(port="Ethernet0"),
     ("firewalls[Ethernet0].port", "role machine")),
    ("leaf without vtep", "leaf01", lambda d: d["switch"].pop("vtep"),
     ("switch.vtep", "needs a VTEP")),
    ("pxe vlan inside vlan range", "leaf01", lambda d: d.update(pxe_vlan=1500),
     ("pxe_vlan", "inside vlan_range")),
    ("bad prefix host bits", "leaf01", lambda d: _port(d, "Ethernet0").update(allow=["10.0.0.1/24"]),
     ("ports[2].allow[0].prefix", "has host bits set")),
    ("le too short", "leaf01", lambda d: _port(d, "Ethernet0").update(allow=["10.0.0.0/24 le 16"]),
     ("ports[2].allow[0]", "le 16")),
    ("mtu too large", "leaf01", lambda d: d["ports"][0].update(mtu=9300),
     ("ports[0].mtu", "9216")),
    ("vlan range reversed", "leaf01", lambda d: d.update(vlan_range={"first": 2000, "last": 1001}),
     ("vlan_range", "greater than last")),
    ("unknown field", "leaf01", lambda d: d.update(colour="blue"), ("colour", "Extra inputs")),
    ("as_trans", "leaf01", lambda d: d["switch"].update(asn=23456), ("switch.asn", "AS_TRANS")),
    ("spine with vrf", "spine01", lambda d: d.update(vrfs=[{"name": "Vrf100010", "vni": 100010}],
                                                     vni_range={"first": 1, "last": 200000}),
     ("vrfs", "a spine carries no")),
    ("exit port without entry", "spine01",
     lambda d: d["ports"].append({"name": "Ethernet28", "role": "exit"}),
     ("ports[Ethernet28].role", "no entry in exits")),
    ("exit on an uplink", "spine01",
     lambda d: d.update(exits=[{"port": "Ethernet0", "vnis": [100100], "allow": ["10.9.0.1/32"]}]),
     ("exits[Ethernet0].port", "role uplink, not exit")),
    ("exit without vnis", "spine01",
     lambda d: d.update(exits=[{"port": "Ethernet0", "vnis": [], "allow": ["10.9.0.1/32"]}]),
     ("exits[0].vnis", "at least 1")),
    ("spine with machine port", "spine01",
     lambda d: d["ports"].append({"name": "Ethernet20", "role": "unprovisioned"}),
     ("ports[Ethernet20].role", "no unprovisioned ports")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "base", "mutate", "expected"), SWITCH_CASES, ids=[c[0] for c in SWITCH_CASES]
)
def test_switch_state_refused_with_path(case: str, base: str, mutate: Any, expected: tuple[str, str]) -> None:
    with pytest.raises(ValidationError) as exc:
        load(SwitchState, _mutate(base, mutate))
    path, words = expected
    matching = [reason for where, reason in exc.value.problems if where == path]
    assert matching, f"{case}: no problem at {path}; got {exc.value.problems}"
    assert any(words in reason for reason in matching), f"{case}: {matching}"


def test_all_problems_reported_at_once() -> None:
    def two(d: dict[str, Any]) -> None:
        _port(d, "Ethernet0").update(vrf="Vrf100099")
        d["switch"].pop("vtep")

    with pytest.raises(ValidationError) as exc:
        load(SwitchState, _mutate("leaf01", two))
    assert {p for p, _ in exc.value.problems} == {"ports[Ethernet0].vrf", "switch.vtep"}


MACHINE_CASES: list[tuple[str, Any, str]] = [
    ("three uplinks", lambda d: d.update(uplinks=["lan0", "lan1", "lan2"]), "uplinks"),
    ("same nic twice", lambda d: d.update(uplinks=["lan0", "lan0"]), "uplinks"),
    ("announces without vrf", lambda d: d.update(vrf=None), "announce"),
    ("vrf name not derived", lambda d: d["vrf"].update(name="Vrf7"), "vrf.name"),
]


@pytest.mark.parametrize(("case", "mutate", "path"), MACHINE_CASES, ids=[c[0] for c in MACHINE_CASES])
def test_machine_state_refused_with_path(case: str, mutate: Any, path: str) -> None:
    with pytest.raises(ValidationError) as exc:
        load(MachineState, _mutate("machine-alpha-1", mutate))
    assert path in [p for p, _ in exc.value.problems], exc.value.problems


def _ipv6_sources_ipv4_target(d: dict[str, Any]) -> None:
    # Translating IPv6 to nothing would leave it untranslated without saying so: refused instead.
    d["vrfs"][1]["addresses"] = ["203.0.113.9"]
    d["snat"][0].update(sources=["10.10.0.0/22", "fd00:10:244::/56"], to=["203.0.113.9"])


FIREWALL_CASES: list[tuple[str, Any, str]] = [
    ("import from unknown vrf", lambda d: d["vrfs"][0]["imports"][0].update({"from": "Vrf9"}),
     "vrfs[Vrf100010].imports[Vrf9]"),
    ("snat via private vrf", lambda d: d["snat"][0].update(vrf="Vrf100010"), "snat[0].vrf"),
    ("duplicate vni", lambda d: d["vrfs"][1].update(vni=100010, name="Vrf100010"), "vrfs[Vrf100010]"),
    ("destination on private", lambda d: d["vrfs"][0].update(destination_prefixes=["0.0.0.0/0"]),
     "vrfs[Vrf100010].destination_prefixes"),
    ("empty snat target", lambda d: d["snat"][0].update(to=[]), "snat[0].to"),
    ("snat target lacks a family", _ipv6_sources_ipv4_target, "snat[0].to"),
    ("family translated twice", lambda d: d["snat"].append(dict(d["snat"][0])), "snat[Vrf104009]"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "mutate", "path"), FIREWALL_CASES, ids=[c[0] for c in FIREWALL_CASES])
def test_firewall_state_refused_with_path(case: str, mutate: Any, path: str) -> None:
    with pytest.raises(ValidationError) as exc:
        load(FirewallState, _mutate("firewall-alpha", mutate))
    assert path in [p for p, _ in exc.value.problems], exc.value.problems


def test_firewall_import_alias_round_trips() -> None:
    doc = load(FirewallState, example("firewall-alpha"))
    dumped = json.loads(doc.model_dump_json(by_alias=True))
    assert dumped["vrfs"][0]["imports"][0]["from"] == "Vrf104009"


def test_json_schemas_cover_every_document() -> None:
    schemas = json_schemas()
    assert set(schemas) == set(DOCUMENTS)
    for kind, schema in schemas.items():
        assert schema["title"] == DOCUMENTS[kind].__name__
        assert "schema_version" in schema["properties"]
        assert schema["additionalProperties"] is False
