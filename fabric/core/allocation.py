"""The allocation rules, pure: what a machine or firewall must satisfy before the store allocates it.

The store reads the records (cabling learnt from LLDP, the networks asked for) and calls these in the
allocation's transaction; a broken rule raises `ValidationError` naming the field, so nothing is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fabric.errors import ValidationError


@dataclass(frozen=True)
class Cable:
    """One machine NIC cabled to one switch port."""

    switch: str
    port: str
    nic: str
    role: str  # the switch's role: leaf or spine
    rack: str


@dataclass(frozen=True)
class AskedNetwork:
    """A network an allocation asks for: its name, kind and owning project."""

    name: str
    kind: str
    project: str | None


def check_dual_attached(machine: str, cables: Sequence[Cable]) -> None:
    """A machine is allocated only when two of its NICs reach two leaves of one rack."""
    to_leaves = [c for c in cables if c.role == "leaf"]
    leaves = {(c.switch, c.rack) for c in to_leaves}
    racks = {rack for _, rack in leaves}
    if len(leaves) != 2 or len(racks) != 1:
        seen = ", ".join(f"{c.nic}->{c.switch}:{c.port}" for c in to_leaves) or "no leaf"
        raise ValidationError(
            f"machine {machine} must be dual-attached to two leaves of one rack before allocation; "
            f"LLDP shows {seen}",
            "name",
        )


def check_machine_networks(project: str, networks: Sequence[AskedNetwork]) -> None:
    """A machine's first network is a private network of its project; only external ones follow."""
    if not networks or networks[0].kind != "private" or networks[0].project != project:
        raise ValidationError(
            f"the first network must be a private network of project {project}", "networks[0]"
        )
    for i, net in enumerate(networks[1:], 1):
        if net.kind != "external":
            raise ValidationError(
                f"network {net.name} is {net.kind}; only external ones may follow", f"networks[{i}]"
            )


def check_firewall_networks(networks: Sequence[AskedNetwork]) -> None:
    """A firewall serves private and external networks (its underlay address is given, not asked)."""
    for i, net in enumerate(networks):
        if net.kind not in ("private", "external"):
            raise ValidationError(
                f"a firewall serves private and external networks, not {net.kind}", f"networks[{i}]"
            )
