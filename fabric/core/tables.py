"""`Tables`: a SONiC Redis database as data (CONFIG_DB, APPL_DB or STATE_DB)."""

from __future__ import annotations

Tables = dict[str, dict[str, dict[str, str]]]
"""table → key → field → value, as SONiC stores them (every value a string)."""

WRITTEN_TABLES = (
    "VRF",
    "VLAN",
    "SUPPRESS_VLAN_NEIGH",
    "VLAN_INTERFACE",
    "VXLAN_TUNNEL_MAP",
    "INTERFACE",
    "VLAN_MEMBER",
    "PORT",
)
"""The CONFIG_DB tables the switch daemon writes, in dependency order: adds go forward, deletes backward."""

CONTEXT_TABLES = (
    "VXLAN_TUNNEL",
    "VXLAN_EVPN_NVO",
    "LOOPBACK_INTERFACE",
    "DEVICE_METADATA",
    "PORTCHANNEL_MEMBER",
)
"""The tables it only reads: the VTEP, EVPN, the loopback, the routing config mode, PortChannel members
(a port in a PortChannel is not fabric's to use)."""

READ_TABLES = WRITTEN_TABLES + CONTEXT_TABLES
"""Every table the switch daemon reads; it never looks at any other."""
