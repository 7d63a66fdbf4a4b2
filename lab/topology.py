"""containerlab topology files, read for the namespace lab.

`load_topology(path)` validates what the lab relies on and names every problem; `Topology` then answers
the lab's questions (which nodes are switches, how a link's interfaces are called inside each node).
Pure: no namespaces are touched here.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fabric.errors import ValidationError as FabricValidationError
from fabric.model.names import IFNAME_PATTERN, NAME_PATTERN

SWITCH_KINDS = frozenset({"sonic-vs", "sonic-vm"})
HOST_KINDS = frozenset({"linux"})
Role = Literal["spine", "leaf", "machine", "firewall", "exit"]
_ETH = re.compile(r"^eth([1-9][0-9]*)$")


def sonic_port(interface: str) -> str:
    """The SONiC name of a containerlab switch interface: `ethN` is `Ethernet{4*(N-1)}`."""
    match = _ETH.match(interface)
    if match is None:
        raise ValueError(f"{interface!r} is not a data port of a SONiC node (eth1, eth2, ...)")
    return f"Ethernet{4 * (int(match.group(1)) - 1)}"


class Labels(BaseModel):
    """The node labels fabric reads (others are kept by containerlab and ignored here)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    role: Role
    rack: str | None = Field(default=None, pattern=NAME_PATTERN)


class Node(BaseModel):
    """One node of the topology."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    image: str = ""
    labels: Labels

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in SWITCH_KINDS | HOST_KINDS:
            raise ValueError(
                f"kind {kind!r} is not one the lab runs ({', '.join(sorted(SWITCH_KINDS | HOST_KINDS))})"
            )
        return kind

    @property
    def is_switch(self) -> bool:
        return self.kind in SWITCH_KINDS


class Endpoint(BaseModel):
    """`node:interface` as containerlab writes it, plus the name the node itself uses."""

    model_config = ConfigDict(frozen=True)

    node: str
    interface: str
    port: str = Field(description="The name inside the node (SONiC name on switches).")

    def __str__(self) -> str:
        return f"{self.node}:{self.interface}"


class Link(BaseModel):
    """A point-to-point link."""

    model_config = ConfigDict(frozen=True)

    a: Endpoint
    b: Endpoint


class Topology(BaseModel):
    """A validated topology."""

    model_config = ConfigDict(frozen=True)

    name: str
    nodes: dict[str, Node]
    links: list[Link]

    def with_role(self, role: Role) -> list[str]:
        """Names of the nodes of one role, sorted."""
        return sorted(n for n, node in self.nodes.items() if node.labels.role == role)

    def links_of(self, node: str) -> list[tuple[Endpoint, Endpoint]]:
        """(own end, far end) of every link of `node`, in file order."""
        out = []
        for link in self.links:
            if link.a.node == node:
                out.append((link.a, link.b))
            elif link.b.node == node:
                out.append((link.b, link.a))
        return out


def named_copy(path: Path, name: str, directory: Path) -> Path:
    """The topology file `path` under another lab `name`, written as `directory/<name>.clab.yml` (a lab
    of its own beside one brought up from the original: tests, benchmarks)."""
    raw = yaml.safe_load(path.read_text())
    raw["name"] = name
    copy = directory / f"{name}.clab.yml"
    copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    return copy


def load_topology(path: str | Path) -> Topology:
    """Read and validate a `*.clab.yml` file; every problem is named with its place in the file."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise FabricValidationError(f"cannot parse {path}: {exc}") from None
    return parse_topology(raw, str(path))


def parse_topology(raw: Any, source: str = "topology") -> Topology:
    """Validate parsed YAML as a topology (see `load_topology`)."""
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, dict) or not isinstance(raw.get("topology"), dict):
        raise FabricValidationError(f"{source}: not a containerlab file (no topology section)")
    name = str(raw.get("name", ""))
    if not re.match(NAME_PATTERN, name) or len(name) > 16:
        problems.append(("name", f"{name!r} must be 1-16 characters of [A-Za-z0-9._-]"))
    nodes = _nodes(raw["topology"], problems)
    links = _links(raw["topology"].get("links") or [], nodes, problems)
    if not problems:
        problems.extend(_fabric_rules(nodes, links))
    if problems:
        raise FabricValidationError(f"invalid topology {source}", problems=problems)
    return Topology(name=name, nodes=nodes, links=links)


def _nodes(topo: dict[str, Any], problems: list[tuple[str, str]]) -> dict[str, Node]:
    kinds = topo.get("kinds") or {}
    nodes: dict[str, Node] = {}
    for name, given in (topo.get("nodes") or {}).items():
        where = f"topology.nodes.{name}"
        if not re.match(NAME_PATTERN, str(name)) or len(str(name)) > 12:
            problems.append((where, "node names are 1-12 characters of [A-Za-z0-9._-]"))
            continue
        spec = dict(given or {})
        kind_defaults = kinds.get(spec.get("kind"), {}) or {}
        spec.setdefault("image", kind_defaults.get("image", ""))
        try:
            nodes[str(name)] = Node.model_validate(spec)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"])
                problems.append((f"{where}.{loc}", str(err["msg"]).removeprefix("Value error, ")))
    if not nodes and not problems:
        problems.append(("topology.nodes", "no nodes"))
    return nodes


def _links(raw: list[Any], nodes: dict[str, Node], problems: list[tuple[str, str]]) -> list[Link]:
    links = []
    used: Counter[str] = Counter()
    for i, item in enumerate(raw):
        ends = (item or {}).get("endpoints") if isinstance(item, dict) else None
        if not isinstance(ends, list) or len(ends) != 2:
            problems.append((f"topology.links[{i}]", "needs exactly two endpoints"))
            continue
        parsed = [
            _endpoint(str(e), nodes, f"topology.links[{i}].endpoints[{j}]", problems)
            for j, e in enumerate(ends)
        ]
        for end in parsed:
            if end is not None:
                used[str(end)] += 1
        if parsed[0] is not None and parsed[1] is not None:
            links.append(Link(a=parsed[0], b=parsed[1]))
    for endpoint, count in used.items():
        if count > 1:
            problems.append(("topology.links", f"{endpoint} is used by {count} links"))
    return links


def _endpoint(
    text: str, nodes: dict[str, Node], where: str, problems: list[tuple[str, str]]
) -> Endpoint | None:
    node, _, interface = text.partition(":")
    if node not in nodes:
        problems.append((where, f"{text!r}: node {node!r} is not defined"))
        return None
    if not re.match(IFNAME_PATTERN, interface):
        problems.append((where, f"{text!r}: {interface!r} is not an interface name"))
        return None
    if not nodes[node].is_switch:
        return Endpoint(node=node, interface=interface, port=interface)
    try:
        return Endpoint(node=node, interface=interface, port=sonic_port(interface))
    except ValueError as exc:
        problems.append((where, f"{text!r}: {exc}"))
        return None


def _fabric_rules(nodes: dict[str, Node], links: list[Link]) -> list[tuple[str, str]]:
    """What the fabric needs: racks where they matter, dual attachment to two leaves of one rack."""
    problems = []
    topo = Topology(name="x", nodes=nodes, links=links)
    for name, node in nodes.items():
        role = node.labels.role
        if role in ("spine", "leaf") and not node.is_switch:
            problems.append((f"topology.nodes.{name}.kind", f"a {role} must be a SONiC node"))
        if role in ("machine", "firewall", "exit") and node.is_switch:
            problems.append((f"topology.nodes.{name}.kind", f"a {role} must be a linux node"))
        if role in ("leaf", "machine", "firewall") and node.labels.rack is None:
            problems.append((f"topology.nodes.{name}.labels.rack", f"a {role} needs a rack"))
        if role in ("machine", "firewall"):
            problems.extend(_dual_attached(topo, name))
    return problems


def _dual_attached(topo: Topology, name: str) -> list[tuple[str, str]]:
    rack = topo.nodes[name].labels.rack
    far = [f for _, f in topo.links_of(name)]
    leaves = {f.node for f in far if topo.nodes[f.node].labels.role == "leaf"}
    racks = {topo.nodes[leaf].labels.rack for leaf in leaves}
    if len(far) != 2 or len(leaves) != 2 or racks != {rack}:
        return [
            (
                f"topology.nodes.{name}",
                f"must be attached to two leaves of rack {rack} (has {len(far)} links)",
            )
        ]
    return []
