"""A small fabric declared through the API: one partition, two leaves and a spine, a machine, a firewall."""

from __future__ import annotations

from typing import Any

from fabric.adapters.api_client import ApiClient
from fabric.model.status import LldpNeighbour, SwitchStatus, SyncResult

PARTITION: dict[str, Any] = {
    "name": "fra",
    "vni_range": {"first": 100000, "last": 100099},
    "machine_asn_range": {"first": 4210000000, "last": 4210000099},
    "switch_asn_range": {"first": 4200000000, "last": 4200000099},
    "loopback_prefix": "10.0.0.0/24",
    "dhcp_relay": ["192.168.0.10"],
    "mgmt_gateway": "192.168.0.1",
}
NETWORKS: list[dict[str, Any]] = [
    {
        "name": "tenants",
        "partition": "fra",
        "kind": "super",
        "prefixes": ["10.128.0.0/14", "2001:db8:100::/40"],
        "child_lengths": {"4": 22, "6": 56},
    },
    {
        "name": "internet",
        "partition": "fra",
        "kind": "external",
        "prefixes": ["203.0.113.0/24"],
        "destination_prefixes": ["0.0.0.0/0"],
        "nat": True,
    },
    {"name": "underlay", "partition": "fra", "kind": "underlay", "prefixes": ["10.1.0.0/16"]},
    {
        "name": "alpha-net",
        "partition": "fra",
        "kind": "private",
        "parent": "tenants",
        "project": "alpha",
        "extra_prefixes": ["10.244.0.0/16 le 24"],
    },
]


def networks_with(changes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """`NETWORKS` with some networks' fields changed, by network name (the order kept: parents first)."""
    return [{**n, **changes.get(n["name"], {})} for n in NETWORKS]


def nics(machine: int) -> list[dict[str, str]]:
    return [{"name": f"lan{i}", "mac": f"aa:00:00:00:{machine:02x}:{i:02x}"} for i in range(2)]


async def declare(
    api: ApiClient, networks: list[dict[str, Any]] = NETWORKS, partition: dict[str, Any] = PARTITION
) -> None:
    """Declare the fabric: `partition` fra, projects, `networks`, leaves and spine, machines (uncabled)."""
    await api.request("POST", "/v1/partitions", partition)
    await api.request("POST", "/v1/projects", {"name": "alpha"})
    await api.request("POST", "/v1/projects", {"name": "beta"})
    for net in networks:
        await api.request("POST", "/v1/networks", net)
    for leaf in ("leaf01", "leaf02"):
        await api.request(
            "POST",
            "/v1/switches",
            {
                "name": leaf,
                "partition": "fra",
                "rack": "r1",
                "role": "leaf",
                "ports": ["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet120"],
            },
        )
    await api.request(
        "POST", "/v1/switches", {"name": "spine01", "partition": "fra", "rack": "r0", "role": "spine"}
    )
    for i, name in enumerate(("m1", "fw1", "lonely"), 1):
        await api.request(
            "POST", "/v1/machines", {"name": name, "partition": "fra", "rack": "r1", "nics": nics(i)}
        )


async def cable(api: ApiClient) -> None:
    """Report both leaves' LLDP neighbours (`lldp_status`), which cables the machines to them."""
    for leaf in (0, 1):
        await api.post_status("switch", f"leaf0{leaf + 1}", lldp_status(leaf))


def lldp_status(leaf: int, *, with_lonely: bool = True) -> SwitchStatus:
    """What leaf `leaf` (0 or 1) hears: m1 and fw1 on both leaves, `lonely` only on leaf01."""
    heard = [
        LldpNeighbour(port="Ethernet0", port_id=f"aa:00:00:00:01:{leaf:02x}"),
        LldpNeighbour(port="Ethernet4", port_id=f"aa:00:00:00:02:{leaf:02x}"),
        LldpNeighbour(port="Ethernet120", sys_name="spine01", port_id=f"Ethernet{4 * leaf}"),
    ]
    if with_lonely and leaf == 0:
        heard.append(LldpNeighbour(port="Ethernet8", port_id="aa:00:00:00:03:00"))
    return SwitchStatus(name=f"leaf0{leaf + 1}", sync=SyncResult(applied_revision=0), lldp=heard)
