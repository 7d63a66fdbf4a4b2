"""What a running lab is, persisted beside its ledger so that other processes find it by name.

`fabric lab up` writes ``<LAB_ROOT>/<prefix>/lab.json``; `status`, `exec` and `down` read it.  The
ledger in the same directory lists every resource; `lab.json` only says what each resource is for
(which namespace is which node, where its FRR and Redis live, which PID is which daemon).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fabric.errors import FabricError

LAB_ROOT = Path(os.environ.get("FABRIC_LAB_ROOT", "/run/fabric-lab"))
STATE_FILE = "lab.json"
PREFIX_STEM = "lab."


class LabError(FabricError):
    """A lab operation that cannot proceed (lab missing, already up, leftovers in the way)."""


def lab_prefix(name: str) -> str:
    """The prefix of lab `name`: its ledger directory and the start of every name it creates.

    ``lab.mini`` → namespaces ``lab.mini-leaf01``, temp dirs ``/tmp/lab.mini-frr-leaf01-1a2b``.  Two
    labs with different topology names never share a namespace, directory or FRR pathspace.
    """
    return PREFIX_STEM + name


@dataclass
class NodeRecord:
    """One node of a running lab."""

    name: str
    role: str
    netns: str
    loopback: str | None = None
    asn: int | None = None
    frr_dir: str | None = None
    redis_socket: str | None = None
    database_config: str | None = None
    vrf_dir: str | None = None
    lldp_socket: str | None = None
    switch_config: str | None = None  # the switch daemon's configuration file
    ssh: list[str] | None = None  # a VM node: the command line that runs a shell line in it over SSH
    # daemon name (zebra, bgpd, redis, lldpd, sonic, ...) -> (pid, start time)
    daemons: dict[str, tuple[int, int | None]] = field(default_factory=dict)


@dataclass
class LabState:
    """A running lab: its topology, prefix and nodes."""

    name: str
    topology_file: str
    prefix: str
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    api_url: str | None = None  # the lab's `fabric api`
    api_dir: str | None = None  # its SQLite database, admin token, intent and daemon configs
    kube_url: str | None = None  # the cluster's API: the Kubernetes STAND-IN (lab.kube)
    kube_token_file: str | None = None
    # lab-wide daemons (the API) -> (pid, start time)
    daemons: dict[str, tuple[int, int | None]] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """The lab's ledger directory."""
        return LAB_ROOT / self.prefix

    def node(self, name: str) -> NodeRecord:
        """The node called `name`; `LabError` naming the nodes there are otherwise."""
        if name not in self.nodes:
            raise LabError(f"lab {self.name} has no node {name!r} (nodes: {', '.join(self.nodes)})")
        return self.nodes[name]

    def save(self) -> None:
        """Write lab.json atomically."""
        tmp = self.directory / f".{STATE_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.replace(tmp, self.directory / STATE_FILE)

    @classmethod
    def load(cls, name: str) -> LabState:
        """The state of lab `name`; `LabError` when it is not up."""
        path = LAB_ROOT / lab_prefix(name) / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab named {name!r} is up (no {path})") from None
        nodes = {}
        for node_name, raw in data.pop("nodes").items():
            raw["daemons"] = {d: (int(p), s) for d, (p, s) in raw.get("daemons", {}).items()}
            nodes[node_name] = NodeRecord(**raw)
        data["daemons"] = {d: (int(p), s) for d, (p, s) in data.get("daemons", {}).items()}
        return cls(**data, nodes=nodes)
