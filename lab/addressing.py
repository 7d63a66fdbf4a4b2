"""Deterministic underlay identities for a lab's switches, derived from the topology alone.

Until the API allocates them (issue 3), the lab numbers switches per role in name order and derives
everything from that index, so the same file always comes up with the same addresses:

| role  | n-th, by name | ASN            | loopback = router-id = VTEP | base MAC         |
| ----- | ------------- | -------------- | --------------------------- | ---------------- |
| spine | spine01 → 1   | 4200000000 + n | 10.255.0.n/32               | 02:fa:00:00:00:n |
| leaf  | leaf01 → 1    | 4200000100 + n | 10.255.1.n/32               | 02:fa:00:01:00:n |
| exit  | exit01 → 1    | 4200000200 + n | 10.255.2.n/32               | (none)           |

Private 4-byte ASNs, one per router.  Machines and firewalls get no underlay identity here: theirs
come from their documents (the API allocates them).  An exit router is not ours: its identity is the
lab's, and the switches it is cabled to learn it from their declaration (`lab.intent`).  Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.topology import Topology

ASN_BASE = {"spine": 4_200_000_000, "leaf": 4_200_000_100, "exit": 4_200_000_200}
LOOPBACK_NET = {"spine": "10.255.0", "leaf": "10.255.1", "exit": "10.255.2"}
MAC_ROLE = {"spine": 0, "leaf": 1}
MAX_SWITCHES_PER_ROLE = 254


@dataclass(frozen=True)
class SwitchIdentity:
    """What one switch of the lab is in the underlay."""

    name: str
    role: str  # spine | leaf
    index: int
    asn: int
    loopback: str  # the address, without prefix length

    @property
    def router_id(self) -> str:
        """The BGP router-id: the loopback address."""
        return self.loopback

    @property
    def vtep(self) -> str:
        """The VXLAN source address: the loopback address (leaves)."""
        return self.loopback

    @property
    def mac(self) -> str:
        """The switch's base MAC (DEVICE_METADATA), locally administered."""
        return f"02:fa:00:{MAC_ROLE[self.role]:02x}:00:{self.index:02x}"


def switch_identities(topology: Topology) -> dict[str, SwitchIdentity]:
    """The identity of every spine and leaf of `topology`, by node name (see module doc)."""
    out: dict[str, SwitchIdentity] = {}
    for role in ("spine", "leaf"):
        names = topology.with_role(role)
        if len(names) > MAX_SWITCHES_PER_ROLE:
            raise ValueError(f"the lab numbers at most {MAX_SWITCHES_PER_ROLE} {role}s, got {len(names)}")
        for index, name in enumerate(names, start=1):
            out[name] = SwitchIdentity(
                name=name,
                role=role,
                index=index,
                asn=ASN_BASE[role] + index,
                loopback=f"{LOOPBACK_NET[role]}.{index}",
            )
    return out


@dataclass(frozen=True)
class ExitIdentity:
    """What one exit router of the lab is in the underlay (its loopback is its VTEP)."""

    name: str
    asn: int
    loopback: str


def exit_identities(topology: Topology) -> dict[str, ExitIdentity]:
    """The identity of every exit router of `topology`, by node name (see module doc)."""
    return {
        name: ExitIdentity(name, ASN_BASE["exit"] + index, f"{LOOPBACK_NET['exit']}.{index}")
        for index, name in enumerate(topology.with_role("exit"), start=1)
    }
