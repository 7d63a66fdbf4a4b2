"""What the lab declares in `fabric api`, derived from the topology alone.  Pure: no I/O.

`lab_intent` is the `fabric apply -f` document of a freshly brought-up lab: one partition named after
the lab, its switches with the identities `lab.addressing` derives (given, not allocated from the pools,
so a file always comes up with the same addresses), every machine and firewall with its NICs' MACs
(which the lab sets, see `nic_mac`), a super network tenants' private networks are carved from, the
underlay network firewalls get their address in, and an internet network.  Cabling is *not* declared:
the switch daemons report LLDP neighbours and the API learns it.

`switch_config` is one switch daemon's configuration file (`fabric switch run --config`).
"""

from __future__ import annotations

from typing import Any

from lab.addressing import ExitIdentity, SwitchIdentity, exit_identities
from lab.rig.daemon import wrap
from lab.topology import Topology

HOST_ROLES = ("machine", "firewall")
SUPER = "tenants"
SUPER_PREFIXES = ["10.128.0.0/14", "2001:db8:100::/40"]
UNDERLAY = "underlay"
INTERNET = "internet"
# The partition's VNI range is small on purpose: every leaf gets one VRF namespace per VNI of it before
# its FRR starts (`vrf_names`), because FRR 8.4's netns VRF backend does not survive namespaces created
# and deleted at runtime (docs/concepts.md#lab).
VNI_FIRST = 100000
VNI_COUNT = 16
INTERNET_VNI = VNI_FIRST + VNI_COUNT - 1  # given, not allocated: the exit router is configured with it


def partition_name(topology: Topology) -> str:
    """The lab's one partition: named after the lab."""
    return topology.name


def hosts(topology: Topology) -> list[str]:
    """Machines and firewalls, by name."""
    return sorted(n for n, node in topology.nodes.items() if node.labels.role in HOST_ROLES)


def nic_mac(topology: Topology, host: str, nic_index: int) -> str:
    """The MAC the lab gives NIC `nic_index` (file order) of `host`: locally administered, stable."""
    return f"02:fa:02:{hosts(topology).index(host) + 1:02x}:00:{nic_index:02x}"


def host_nics(topology: Topology, host: str) -> list[tuple[str, str]]:
    """(NIC name, MAC) of every NIC of `host`, in file order."""
    return [(own.port, nic_mac(topology, host, i)) for i, (own, _) in enumerate(topology.links_of(host))]


def vrf_names() -> list[str]:
    """The SONiC VRF name (`Vrf<vni>`) of every VNI of the lab partition's range, in order."""
    return [f"Vrf{vni}" for vni in range(VNI_FIRST, VNI_FIRST + VNI_COUNT)]


def lab_intent(topology: Topology, identities: dict[str, SwitchIdentity]) -> dict[str, Any]:
    """The `fabric apply -f` document of the lab (see module doc)."""
    part = partition_name(topology)
    switches = [
        {
            "name": me.name,
            "partition": part,
            "rack": topology.nodes[me.name].labels.rack or "spines",
            "role": me.role,
            "asn": me.asn,
            "loopback": me.loopback,
            "sonic_version": "202405",
            **({"exits": exits} if (exits := switch_exits(topology, me.name)) else {}),
        }
        for me in identities.values()
    ]
    machines = [
        {
            "name": host,
            "partition": part,
            "rack": topology.nodes[host].labels.rack,
            "nics": [{"name": nic, "mac": mac} for nic, mac in host_nics(topology, host)],
        }
        for host in hosts(topology)
    ]
    return {
        "partitions": [
            {
                "name": part,
                "vni_range": {"first": VNI_FIRST, "last": VNI_FIRST + VNI_COUNT - 1},
                "machine_asn_range": {"first": 4210000000, "last": 4210000999},
                "switch_asn_range": {"first": 4200000000, "last": 4200000999},
                "loopback_prefix": "10.255.0.0/23",
                "vlan_range": {"first": 1001, "last": 1999},
                "pxe_vlan": 4000,
            }
        ],
        "networks": [
            {
                "name": SUPER,
                "partition": part,
                "kind": "super",
                "prefixes": SUPER_PREFIXES,
                "child_lengths": {"4": 24, "6": 64},
            },
            {"name": UNDERLAY, "partition": part, "kind": "underlay", "prefixes": ["10.254.0.0/24"]},
            {
                "name": INTERNET,
                "partition": part,
                "kind": "external",
                "vni": INTERNET_VNI,
                "prefixes": ["203.0.113.0/24"],
                "destination_prefixes": ["0.0.0.0/0", "::/0"],
                "nat": True,
            },
        ],
        "switches": switches,
        "machines": machines,
    }


def exit_ports(topology: Topology, exit_router: str) -> list[tuple[str, str, str]]:
    """(own port, switch, switch port) of every link of `exit_router` to a switch, in file order."""
    return [
        (own.port, far.node, far.port)
        for own, far in topology.links_of(exit_router)
        if topology.nodes[far.node].is_switch
    ]


def switch_exits(topology: Topology, switch: str) -> list[dict[str, Any]]:
    """The exit routers cabled to `switch`, as its declaration names them (`switches[].exits`)."""
    exits: list[ExitIdentity] = list(exit_identities(topology).values())
    return [
        {"name": me.name, "port": port, "networks": [INTERNET], "underlay": [me.loopback]}
        for me in exits
        for _, node, port in exit_ports(topology, me.name)
        if node == switch
    ]


def switch_config(
    me: SwitchIdentity, *, netns: str, frr_dir: str, database_config: str, url: str, token_file: str
) -> dict[str, Any]:
    """The daemon configuration of switch `me` in the lab.

    The daemon runs in the host's namespaces: Redis is a unix socket and the API listens on
    127.0.0.1, both reachable from there; FRR is reached through an exec prefix that enters the
    switch's namespace under its hostname (as ``docker exec -i bgp`` enters SONiC's bgp container).
    Leaves render FRR's netns VRF backend, with the lab's VRF namespaces always defined.  Periods are
    short: a lab converges in seconds.
    """
    return {
        "name": me.name,
        "api": {"url": url, "token_file": token_file, "watch_wait": 30},
        "sonic": {"database_config": database_config},
        "frr": {
            "exec_prefix": wrap([], netns=netns, hostname=me.name),
            "config_dir": frr_dir,
            "vty_socket_dir": frr_dir,
            "rundir": frr_dir,
            "vrf_backend": "netns" if me.role == "leaf" else "kernel",
            # The VRF namespaces `fabric lab up` makes before a leaf's FRR starts: zebra shows a block
            # for each, which the daemon's rendering keeps (a reload removing one breaks the VRF).
            **({"netns_vrfs_always": vrf_names()} if me.role == "leaf" else {}),
            "timeout": 60,
        },
        "resync_period": 120,
        "sync_deadline": 60,
        "heartbeat": 2,  # LLDP neighbours reach the API within ~2 s of being heard
        "backoff_initial": 0.5,
        "backoff_max": 5,
        "metrics_port": 0,
        "log_format": "json",
    }
