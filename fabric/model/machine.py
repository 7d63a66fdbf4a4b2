"""`MachineState`: a bare-metal server routing on the host towards its two leaves."""

from __future__ import annotations

import ipaddress
from typing import Self

from pydantic import Field, field_validator, model_validator

from fabric.model.base import Document, Model, Problems
from fabric.model.names import IfName, Name, RealAsn
from fabric.model.prefixes import IPNetwork, normalise_networks
from fabric.model.switch import Vrf


class Machine(Model):
    """Identity of the machine's BGP speaker."""

    name: Name
    asn: RealAsn
    router_id: ipaddress.IPv4Address


MachineVrf = Vrf
"""The tenant VRF the machine lives in: the same record as a switch's VRF (`Vrf<vni>`)."""


class MachineState(Document):
    """Desired state of one machine: no VRF means not allocated (nothing announced)."""

    machine: Machine
    vrf: MachineVrf | None = None
    uplinks: list[IfName] = Field(min_length=1, max_length=2, description="NICs towards the leaves.")
    announce: list[IPNetwork] = Field(
        default_factory=list, description="Own addresses (/32, /128) and extra prefixes it announces."
    )

    _sort_announce = field_validator("announce")(normalise_networks)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = []
        if len(set(self.uplinks)) != len(self.uplinks):
            problems.append(("uplinks", "a NIC is listed twice"))
        if self.vrf is None and self.announce:
            problems.append(("announce", "a machine without a VRF announces nothing"))
        if problems:
            raise Problems(problems)
        return self
