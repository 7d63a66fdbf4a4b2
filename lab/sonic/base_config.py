"""The CONFIG_DB a lab switch boots with, and the `database_config.json` that says where it is.

What a freshly installed SONiC switch of our fabric holds before fabric touches it: its ports, the
loopback, DEVICE_METADATA with `docker_routing_config_mode: split` (fabric manages FRR itself), and on
leaves the VTEP (`VXLAN_TUNNEL|vtep`, `VXLAN_EVPN_NVO|nvo`) and the PXE VLAN with every port towards a
machine or firewall as an untagged member (unprovisioned ports live there, docs/concepts.md#network).
Returned in config_db.json form, ``{TABLE: {key: {field: value}}}``; pure.
"""

from __future__ import annotations

import json
from typing import Any

from fabric.core.tables import Tables
from lab.addressing import SwitchIdentity
from lab.topology import Topology

FRONT_PORTS = 32  # a 32-port switch, like SONiC's virtual switch
LANES_PER_PORT = 4
PORT_SPEED = "100000"
PORT_MTU = "9100"
PXE_VLAN = 4000
TUNNEL = "vtep"
NVO = "nvo"
HWSKU = "Force10-S6000"
PLATFORM = "x86_64-kvm_x86_64-r0"
DEVICE_TYPE = {"leaf": "LeafRouter", "spine": "SpineRouter"}
NULL = {"NULL": "NULL"}  # SONiC's placeholder for a key without fields (a Redis hash cannot be empty)

# SONiC's database ids and separators (/var/run/redis/sonic-db/database_config.json on a switch).
DATABASES = {"APPL_DB": (0, ":"), "CONFIG_DB": (4, "|"), "STATE_DB": (6, "|")}
CONFIG_DB, APPL_DB, STATE_DB = (DATABASES[n][0] for n in ("CONFIG_DB", "APPL_DB", "STATE_DB"))


def front_ports() -> list[str]:
    """Every front port name: Ethernet0, Ethernet4, ... Ethernet124."""
    return [f"Ethernet{LANES_PER_PORT * i}" for i in range(FRONT_PORTS)]


def host_ports(topology: Topology, switch: str) -> list[str]:
    """The switch's ports cabled to a machine or a firewall (the PXE VLAN's members), in port order."""
    ports = [
        own.port
        for own, far in topology.links_of(switch)
        if topology.nodes[far.node].labels.role in ("machine", "firewall")
    ]
    return sorted(ports, key=lambda p: int(p.removeprefix("Ethernet")))


def base_config(topology: Topology, me: SwitchIdentity) -> Tables:
    """The CONFIG_DB switch `me` of `topology` boots with (see module doc)."""
    tables: Tables = {
        "DEVICE_METADATA": {
            "localhost": {
                "hostname": me.name,
                "hwsku": HWSKU,
                "platform": PLATFORM,
                "mac": me.mac,
                "bgp_asn": str(me.asn),
                "type": DEVICE_TYPE[me.role],
                "docker_routing_config_mode": "split",
            }
        },
        "PORT": {},
        "LOOPBACK_INTERFACE": {"Loopback0": dict(NULL), f"Loopback0|{me.loopback}/32": dict(NULL)},
    }
    # A spine's ports that lead to no other switch boot admin down (what the switch daemon keeps them
    # at: the spine's document calls them unused); a leaf's boot up (unprovisioned: the PXE VLAN).
    switch_facing = {
        own.port for own, far in topology.links_of(me.name) if topology.nodes[far.node].is_switch
    }
    for i, port in enumerate(front_ports()):
        lanes = ",".join(str(LANES_PER_PORT * i + lane) for lane in range(1, LANES_PER_PORT + 1))
        tables["PORT"][port] = {
            "lanes": lanes,
            "alias": f"etp{i + 1}",
            "index": str(i + 1),
            "speed": PORT_SPEED,
            "mtu": PORT_MTU,
            "admin_status": "up" if me.role == "leaf" or port in switch_facing else "down",
        }
    if me.role == "leaf":
        tables["VXLAN_TUNNEL"] = {TUNNEL: {"src_ip": me.vtep}}
        tables["VXLAN_EVPN_NVO"] = {NVO: {"source_vtep": TUNNEL}}
        tables["VLAN"] = {f"Vlan{PXE_VLAN}": {"vlanid": str(PXE_VLAN)}}
        tables["VLAN_MEMBER"] = {
            f"Vlan{PXE_VLAN}|{port}": {"tagging_mode": "untagged"} for port in host_ports(topology, me.name)
        }
    return tables


def redis_keys(tables: Tables, separator: str = "|") -> dict[str, dict[str, str]]:
    """`tables` as Redis keys (``TABLE|key``) and their hashes."""
    return {
        f"{table}{separator}{key}": dict(fields)
        for table, entries in tables.items()
        for key, fields in entries.items()
    }


def database_config(socket_path: str) -> dict[str, Any]:
    """A SONiC `database_config.json` naming one Redis instance on `socket_path` and the three DBs."""
    return {
        "INSTANCES": {"redis": {"hostname": "127.0.0.1", "port": 0, "unix_socket_path": socket_path}},
        "DATABASES": {
            name: {"id": db, "separator": sep, "instance": "redis"} for name, (db, sep) in DATABASES.items()
        },
        "VERSION": "1.0",
    }


def database_config_json(socket_path: str) -> str:
    """`database_config(socket_path)` as the file's text."""
    return json.dumps(database_config(socket_path), indent=2, sort_keys=True) + "\n"
