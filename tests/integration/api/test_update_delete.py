"""Declarative updates and deletes over HTTP on both engines: safe changes land (with the documents they
touch recomputed), unsafe ones are refused naming the field and write nothing; every change is audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Server, fabric
from scenario import NETWORKS, PARTITION, cable, declare
from test_api import admin, expect_problem

from fabric.adapters.api_client import ApiClient

INTERNET: dict[str, Any] = next(n for n in NETWORKS if n["name"] == "internet")


async def revision(api: ApiClient, kind: str, name: str) -> int:
    fetched = await api.get_state(kind, name)
    assert fetched.revision is not None
    return fetched.revision


async def test_setup(server: Server) -> None:
    async with admin(server) as api:
        await declare(api)
        await cable(api)
        await api.request(
            "POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net", "internet"]}
        )
        await api.request("POST", "/v1/firewalls/fw1/allocate", {"networks": ["alpha-net", "internet"]})


async def test_partition_pools_resize_but_never_below_what_is_allocated(server: Server) -> None:
    async with admin(server) as api:
        leaf = await revision(api, "switch", "leaf01")
        # m1 and fw1 hold ASNs 4210000000 and 4210000001: the range may not start above them.
        shrink = {**PARTITION, "machine_asn_range": {"first": 4210000001, "last": 4210000099}}
        await expect_problem(
            api.request("PUT", "/v1/partitions/fra", shrink),
            409,
            "machine_asn_range",
            "cannot become 4210000001..4210000099: 4210000000 is allocated",
        )
        # One body with a safe change (dhcp_relay) and an unsafe one: refused whole, nothing written.
        mixed = {**shrink, "dhcp_relay": ["192.168.0.11"]}
        await expect_problem(api.request("PUT", "/v1/partitions/fra", mixed), 409, "machine_asn_range")
        assert (await api.request("GET", "/v1/partitions/fra"))["dhcp_relay"] == ["192.168.0.10"]
        assert await revision(api, "switch", "leaf01") == leaf
        grown = {
            **PARTITION,
            "machine_asn_range": {"first": 4210000000, "last": 4210000199},
            "dhcp_relay": ["192.168.0.11"],
        }
        done = await api.request("PUT", "/v1/partitions/fra", grown)
        assert done["changed"] == ["machine_asn_range", "dhcp_relay"]
        assert await revision(api, "switch", "leaf01") == leaf + 1  # the relay is in every switch's document
        again = await api.request("PUT", "/v1/partitions/fra", grown)
        assert again["changed"] == []
        audit = await api.request("GET", "/v1/audit", target="fra")
        assert [a["action"] for a in audit].count("partition.update") == 1  # no entry for a no-op
        await expect_problem(
            api.request("PUT", "/v1/partitions/fra", {**grown, "name": "ber"}), 422, "name", "path names"
        )


async def test_network_updates_and_refusals(server: Server) -> None:
    async with admin(server) as api:
        m1 = await revision(api, "machine", "m1")
        fw1 = await revision(api, "firewall", "fw1")
        changed = {**INTERNET, "destination_prefixes": ["0.0.0.0/0", "::/0"], "nat": False}
        done = await api.request("PUT", "/v1/networks/internet", changed)
        assert done["changed"] == ["destination_prefixes", "nat"]
        # The firewall's document carries NAT and destinations; m1's does not, so it keeps its revision.
        assert await revision(api, "firewall", "fw1") == fw1 + 1
        assert await revision(api, "machine", "m1") == m1
        # m1 holds an address of 203.0.113.0/24: that prefix cannot go (nor be swapped for another).
        await expect_problem(
            api.request("PUT", "/v1/networks/internet", {**changed, "prefixes": ["198.51.100.0/24"]}),
            409,
            "prefixes",
            "203.0.113.0/24 of network internet cannot be removed: it has addresses allocated",
        )
        more = {**changed, "prefixes": ["203.0.113.0/24", "198.51.100.0/24"]}
        assert (await api.request("PUT", "/v1/networks/internet", more))["changed"] == ["prefixes"]
        assert (await api.request("PUT", "/v1/networks/internet", changed))["changed"] == ["prefixes"]
        await expect_problem(
            api.request("PUT", "/v1/networks/internet", {**changed, "vni": 100050}),
            409,
            "vni",
            "fw1, m1",
        )
        await expect_problem(
            api.request("PUT", "/v1/networks/internet", {**changed, "kind": "underlay"}),
            422,
            "kind",
            "cannot change",
        )
        alpha = next(n for n in NETWORKS if n["name"] == "alpha-net")
        await expect_problem(
            api.request("PUT", "/v1/networks/alpha-net", {**alpha, "lengths": {"4": 24}}),
            422,
            "lengths.4",
            "carved already (/22)",
        )


async def test_switch_and_machine_updates(server: Server) -> None:
    async with admin(server) as api:
        leaf = await api.request("GET", "/v1/switches/leaf01")
        body = {"name": "leaf01", "partition": "fra", "rack": "r1", "role": "leaf"}
        await expect_problem(
            api.request("PUT", "/v1/switches/leaf01", {**body, "rack": "r2"}), 409, "rack", "fw1, m1"
        )
        moved = await api.request(
            "PUT", "/v1/switches/leaf01", {**body, "asn": 4200000050, "sonic_version": "202405"}
        )
        assert moved["changed"] == ["asn", "sonic_version"]
        state = (await api.get_state("switch", "leaf01")).document
        assert state is not None and state.switch.asn == 4200000050  # type: ignore[attr-defined]
        # Its old ASN went back to the pool: the next switch gets it.
        spare = await api.request(
            "POST", "/v1/switches", {"name": "leaf03", "partition": "fra", "rack": "r2", "role": "leaf"}
        )
        assert spare["asn"] == leaf["asn"]
        m1 = {
            "name": "m1",
            "partition": "fra",
            "rack": "r1",
            "nics": [{"name": "lan0", "mac": "aa:00:00:00:01:00"}],
        }
        await expect_problem(api.request("PUT", "/v1/machines/m1", m1), 409, "nics", "free it before")
        lonely = {
            "name": "lonely",
            "partition": "fra",
            "rack": "r1",
            "nics": [
                {"name": "lan0", "mac": "aa:00:00:00:03:00"},
                {"name": "lan1", "mac": "aa:00:00:00:03:09"},
            ],
        }
        assert (await api.request("PUT", "/v1/machines/lonely", lonely))["changed"] == ["nics"]
        taken = {**lonely, "nics": [{"name": "lan0", "mac": "aa:00:00:00:01:00"}]}
        await expect_problem(
            api.request("PUT", "/v1/machines/lonely", taken), 409, "nics[0].mac", "belongs to machine m1"
        )


async def test_deletes_refuse_what_holds_on_and_give_back_what_was_taken(server: Server) -> None:
    async with admin(server) as api:
        await expect_problem(api.request("DELETE", "/v1/networks/internet"), 409, "name", "IPs", "m1")
        await expect_problem(api.request("DELETE", "/v1/machines/m1"), 409, "name", "free it first")
        await expect_problem(api.request("DELETE", "/v1/partitions/fra"), 409, "name", "networks")
        await expect_problem(api.request("DELETE", "/v1/switches/leaf01"), 409, "name", "m1")
        await expect_problem(api.request("DELETE", "/v1/projects/alpha"), 409, "name", "alpha-net")
        await expect_problem(api.request("DELETE", "/v1/networks/nope"), 404, "name")
        spare = await api.request(
            "POST",
            "/v1/networks",
            {"name": "spare", "partition": "fra", "kind": "private", "parent": "tenants", "project": "beta"},
        )
        await api.request("DELETE", "/v1/networks/spare")
        names = [n["name"] for n in await api.request("GET", "/v1/networks")]
        assert "spare" not in names
        again = await api.request(
            "POST",
            "/v1/networks",
            {"name": "spare2", "partition": "fra", "kind": "private", "parent": "tenants", "project": "beta"},
        )
        assert again["vni"] == spare["vni"] and again["prefixes"] == spare["prefixes"]  # both went back
        # A stale If-Match on a delete: 412 and nothing deleted.
        _, version = await api.versioned("GET", "/v1/switches/leaf03")
        await api.request(
            "PUT", "/v1/switches/leaf03", {"name": "leaf03", "partition": "fra", "rack": "r3", "role": "leaf"}
        )
        await expect_problem(
            api.versioned("DELETE", "/v1/switches/leaf03", if_match=version), 412, "If-Match"
        )
        await api.request("DELETE", "/v1/switches/spine01")  # leaves heard it as their uplink
        leaf = (await api.get_state("switch", "leaf01")).document
        assert leaf is not None and leaf.uplinks == []  # type: ignore[attr-defined]
        await expect_problem(api.get_state("switch", "spine01"), 404, "name")
        await api.request("POST", "/v1/machines/m1/free")
        await api.request("DELETE", "/v1/machines/m1")
        await expect_problem(api.request("GET", "/v1/machines/m1"), 404, "name")
        audit = [(a["action"], a["target"]) for a in await api.request("GET", "/v1/audit", limit=200)]
        for entry in (
            ("network.delete", "spare"),
            ("switch.delete", "spine01"),
            ("machine.delete", "m1"),
            ("network.update", "internet"),
            ("switch.update", "leaf01"),
            ("machine.update", "lonely"),
        ):
            assert entry in audit, entry
        assert ("switch.delete", "leaf03") not in audit


def test_apply_updates_what_changed(server: Server, tmp_path: Path) -> None:
    spec = tmp_path / "fabric.yaml"
    spec.write_text(
        "projects:\n  - {name: gamma, description: first}\n"
        "networks:\n  - {name: lab-ext, partition: fra, kind: external, prefixes: [192.0.2.0/24]}\n"
    )
    first = fabric(server, "apply", "-f", str(spec))
    assert first.ok and "networks/lab-ext: created" in first.stdout, first.describe()
    spec.write_text(
        "projects:\n  - {name: gamma, description: second}\n"
        "networks:\n  - {name: lab-ext, partition: fra, kind: external, prefixes: [192.0.2.0/24],\n"
        "     nat: true}\n"
    )
    second = fabric(server, "apply", "-f", str(spec))
    assert second.ok, second.describe()
    assert "projects/gamma: updated (description)" in second.stdout
    assert "networks/lab-ext: updated (nat)" in second.stdout
    third = fabric(server, "apply", "-f", str(spec))
    assert "networks/lab-ext: unchanged" in third.stdout
    spec.write_text(
        "networks:\n  - {name: lab-ext, partition: fra, kind: underlay, prefixes: [192.0.2.0/24]}\n"
    )
    bad = fabric(server, "apply", "-f", str(spec))
    assert bad.rc == 1 and "networks/lab-ext: networks[0].kind: " in bad.stderr
    assert "kind of network lab-ext cannot change (it is 'external')" in bad.stderr
    gone = fabric(server, "api", "delete", "network", "lab-ext")
    assert gone.ok, gone.describe()
