"""Constrained scalar types for everything that ends up in device configuration.

A name that reaches an FRR, CONFIG_DB or nftables template can only hold `[A-Za-z0-9._-]` (plus `:`
and `/` in descriptions), so no space, quote, newline or brace can ever break out of the text it is
rendered into.  Numbers carry the ranges the devices accept.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
IFNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$"  # Linux IFNAMSIZ is 16 with the NUL
VRF_PATTERN = r"^Vrf[A-Za-z0-9._-]{1,12}$"  # SONiC requires the prefix; 15 characters at most
TEXT_PATTERN = r"^[^\x00]*$"  # free text: anything but NUL, which PostgreSQL cannot store in text
DESCRIPTION_PATTERN = r"^[A-Za-z0-9._:/-]{0,64}$"

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""An object name (switch, machine, firewall, project): 1-63 characters of `[A-Za-z0-9._-]`."""

IfName = Annotated[str, StringConstraints(pattern=IFNAME_PATTERN)]
"""A network interface or switch port name, at most 15 characters."""

VrfName = Annotated[str, StringConstraints(pattern=VRF_PATTERN)]
"""A VRF name as SONiC accepts it: `Vrf` and up to 12 more characters."""

Description = Annotated[str, StringConstraints(pattern=DESCRIPTION_PATTERN)]
"""A port description (e.g. a machine id): no spaces, at most 64 characters."""

Asn = Annotated[int, Field(ge=1, le=4294967294)]
"""A BGP AS number (4-byte); 0 and 4294967295 are reserved."""

Vni = Annotated[int, Field(ge=1, le=16777215)]
"""A VXLAN network identifier (24 bits)."""

VlanId = Annotated[int, Field(ge=2, le=4094)]
"""A VLAN id usable on SONiC (VLAN 1 is the default VLAN, 4095 reserved)."""

REVISION_MAX = 2**63 - 1
"""The last revision a document can reach: a revision is a BIGINT in the store (both engines)."""

Revision = Annotated[int, Field(ge=0, le=REVISION_MAX)]
"""A document revision (0: none yet)."""

Mtu = Annotated[int, Field(ge=1280, le=9216)]
"""An interface MTU: IPv6's minimum up to SONiC's maximum."""


def _not_as_trans(asn: int) -> int:
    if asn == 23456:
        raise ValueError("23456 is AS_TRANS and cannot be a real AS number")
    return asn


RealAsn = Annotated[Asn, AfterValidator(_not_as_trans)]

_NATURAL = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key that orders `Ethernet4` before `Ethernet12` (as switches list their ports)."""
    return tuple(int(part) if part.isdigit() else part for part in _NATURAL.split(name))
