"""containerlab topology files: the shipped ones load, the SONiC port mapping holds, bad files are
refused with the place of each problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fabric.errors import ValidationError
from lab.topology import load_topology, parse_topology, sonic_port

TOPOLOGIES = Path(__file__).parents[2] / "topologies"


@pytest.mark.parametrize(
    ("interface", "port"), [("eth1", "Ethernet0"), ("eth2", "Ethernet4"), ("eth32", "Ethernet124")]
)
def test_sonic_port_mapping(interface: str, port: str) -> None:
    assert sonic_port(interface) == port


@pytest.mark.parametrize("bad", ["eth0", "Ethernet0", "eth01", "lan0"])
def test_sonic_port_refuses_non_data_ports(bad: str) -> None:
    with pytest.raises(ValueError, match="not a data port"):
        sonic_port(bad)


def test_mini_topology() -> None:
    topo = load_topology(TOPOLOGIES / "mini.clab.yml")
    assert topo.name == "mini"
    assert topo.with_role("spine") == ["spine01", "spine02"]
    assert topo.with_role("leaf") == ["leaf01", "leaf02"]
    assert topo.with_role("machine") == ["m1", "m2", "m3"]
    assert (topo.with_role("firewall"), topo.with_role("exit")) == (["fw01"], ["exit01"])
    assert topo.nodes["leaf01"].image == "docker-sonic-vs:202405"  # from topology.kinds
    ports = {(own.port, far.node, far.port) for own, far in topo.links_of("leaf01")}
    assert ("Ethernet120", "spine01", "Ethernet0") in ports
    assert ("Ethernet0", "m1", "lan0") in ports


def test_rack_topology_size() -> None:
    topo = load_topology(TOPOLOGIES / "rack.clab.yml")
    assert len(topo.with_role("leaf")) >= 4 and len(topo.with_role("machine")) >= 8
    for machine in topo.with_role("machine"):
        far = [f for _, f in topo.links_of(machine)]
        assert [f.port for f in far] == [far[0].port] * 2, "mirrored ports on both leaves"


def _link(a: str, b: str) -> Any:
    return lambda d: d["topology"]["links"].append({"endpoints": [a, b]})


def _mini() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((TOPOLOGIES / "mini.clab.yml").read_text())
    return data


CASES = [
    ("unknown node in link", _link("m9:lan0", "leaf01:eth9"),
     "topology.links[14].endpoints[0]", "node 'm9' is not defined"),
    ("sonic mgmt port as data", _link("m1:lan7", "leaf01:eth0"),
     "topology.links[14].endpoints[1]", "not a data port"),
    ("endpoint used twice", _link("m2:lan7", "leaf01:eth1"),
     "topology.links", "leaf01:eth1 is used by 2 links"),
    ("unknown kind", lambda d: d["topology"]["nodes"]["m1"].update(kind="ceos"),
     "topology.nodes.m1.kind", "not one the lab runs"),
    ("missing role", lambda d: d["topology"]["nodes"]["m1"].update(labels={}),
     "topology.nodes.m1.labels.role", "Field required"),
    ("machine singly attached", lambda d: d["topology"]["links"].pop(),
     "topology.nodes.m3", "two leaves of rack rack01"),
    ("leaf without rack", lambda d: d["topology"]["nodes"]["leaf02"].update(labels={"role": "leaf"}),
     "topology.nodes.leaf02.labels.rack", "needs a rack"),
    ("bad lab name", lambda d: d.update(name="my lab"), "name", "must be 1-16 characters"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "mutate", "path", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_topologies_name_the_problem(case: str, mutate: Any, path: str, words: str) -> None:
    data = _mini()
    mutate(data)
    with pytest.raises(ValidationError) as exc:
        parse_topology(data, "mini")
    assert any(p == path and words in m for p, m in exc.value.problems), exc.value.problems
