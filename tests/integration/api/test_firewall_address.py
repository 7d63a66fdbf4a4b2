"""A firewall's own address in an external network, over real HTTP on SQLite and on PostgreSQL.

`POST /v1/ips {"network": NET, "firewall": FW}` attaches an address of an external network the firewall
serves; its FirewallState then carries it in the VRF's `addresses` and SNATs to it instead of
masquerading.  Bad input is refused with the field at fault and leaves nothing behind; freeing the
firewall releases the address.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Server, fabric
from scenario import NETWORKS, PARTITION, cable, declare, networks_with
from test_api import admin, expect_problem

from fabric.adapters.api_client import ApiClient
from fabric.model import FirewallState

# alpha-net with a unique local pod prefix beside its global IPv6 one: the ULA leaves translated.
ULA_PODS = "fd00:10:244::/56"
ALPHA = next(n for n in NETWORKS if n["name"] == "alpha-net")
ALPHA_ULA = networks_with({"alpha-net": {"extra_prefixes": [*ALPHA["extra_prefixes"], f"{ULA_PODS} le 64"]}})
EXTRA_NETWORKS: list[dict[str, Any]] = [
    # Served by fw1, dual stack, with room for exactly one IPv4 address (a /32): the exhaustion case.
    {
        "name": "partner",
        "partition": "fra",
        "kind": "external",
        "prefixes": ["192.0.2.77/32", "2001:db8:ee::/64"],
        "destination_prefixes": ["192.0.2.0/24", "2001:db8:ef::/48"],
        "nat": True,
    },
    # An external network fw1 does not serve.
    {"name": "backbone", "partition": "fra", "kind": "external", "prefixes": ["198.51.100.0/24"]},
]


async def _firewall(api: ApiClient) -> FirewallState:
    doc = (await api.get_state("firewall", "fw1")).document
    assert isinstance(doc, FirewallState)
    return doc


async def _declared(api: ApiClient) -> None:
    await declare(api, ALPHA_ULA)
    for net in EXTRA_NETWORKS:
        await api.request("POST", "/v1/networks", net)
    other = {
        **PARTITION,
        "name": "ams",
        "loopback_prefix": "10.0.1.0/24",
    }
    await api.request("POST", "/v1/partitions", other)
    await api.request(
        "POST",
        "/v1/networks",
        {"name": "ams-internet", "partition": "ams", "kind": "external", "prefixes": ["100.70.0.0/24"]},
    )
    await cable(api)
    served = {"networks": ["alpha-net", "internet", "partner"]}
    await api.request("POST", "/v1/firewalls/fw1/allocate", served)
    await api.request(
        "POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net", "internet"]}
    )


async def test_own_address_becomes_the_snat_source(server: Server) -> None:
    async with admin(server) as api:
        await _declared(api)
        before = await _firewall(api)
        # internet reaches IPv4 only; partner both families: its ULA sources get a rule of their own.
        vrf_of = {
            v.name: "partner" if "192.0.2.77/32" in map(str, v.prefixes) else "internet" for v in before.vrfs
        }
        rules = {(vrf_of[r.vrf], r.sources[0].version): r for r in before.snat}
        assert sorted(rules) == [("internet", 4), ("partner", 4), ("partner", 6)]
        assert [r.to for r in rules.values()] == ["masquerade"] * 3
        assert [str(s) for s in rules["partner", 6].sources] == [ULA_PODS]

        # The operator's way: the CLI's generic create (`POST /v1/ips`).
        cli = fabric(server, "api", "create", "ip", "network=internet", "firewall=fw1", "-o", "json")
        assert cli.ok, cli.describe()
        given = json.loads(cli.stdout)
        assert given["firewall"] == "fw1" and given["network"] == "internet"
        v6 = await api.request("POST", "/v1/ips", {"network": "partner", "firewall": "fw1", "family": 6})
        chosen = await api.request(
            "POST", "/v1/ips", {"network": "internet", "firewall": "fw1", "address": "203.0.113.200"}
        )
        after = await _firewall(api)
        assert after.revision > before.revision
        vrfs = {v.name: v for v in after.vrfs}
        internet = next(v for v in after.vrfs if "203.0.113.0/24" in map(str, v.prefixes))
        partner = next(v for v in after.vrfs if "2001:db8:ee::/64" in map(str, v.prefixes))
        assert sorted(map(str, internet.addresses)) == sorted([given["address"], "203.0.113.200"])
        assert list(map(str, partner.addresses)) == [v6["address"]]
        snat = {(r.vrf, r.sources[0].version): r.to for r in after.snat}
        assert snat[internet.name, 4] != "masquerade"
        assert sorted(map(str, snat[internet.name, 4])) == sorted([given["address"], chosen["address"]])
        # Each family translates to an own address of its family: partner's IPv6 one takes the ULA
        # pods, its IPv4 still masquerades (no IPv4 own address there yet).
        assert snat[partner.name, 4] == "masquerade" and list(map(str, snat[partner.name, 6])) == [
            v6["address"]
        ]
        assert len(vrfs) == 3

        ip = await api.request("GET", f"/v1/ips/{given['address']}")
        assert ip["machine"] == "fw1"
        # Releasing one address alone: the firewall's document follows.
        await api.request("DELETE", f"/v1/ips/{chosen['address']}")
        internet = next(v for v in (await _firewall(api)).vrfs if v.name == internet.name)
        assert list(map(str, internet.addresses)) == [given["address"]]


# Each refusal: the body, then the status, the field the problem names and words of its detail.
REFUSED = [
    pytest.param(
        {"network": "alpha-net", "firewall": "fw1"},
        422,
        "network",
        ("alpha-net is private", "external"),
        id="private-network",
    ),
    pytest.param(
        {"network": "backbone", "firewall": "fw1"},
        422,
        "network",
        ("does not serve network backbone",),
        id="network-not-served",
    ),
    pytest.param(
        {"network": "ams-internet", "firewall": "fw1"},
        422,
        "network",
        ("partition ams",),
        id="other-partition",
    ),
    pytest.param(
        {"network": "internet", "firewall": "m1"},
        422,
        "firewall",
        ("m1 is not allocated as a firewall",),
        id="machine-not-firewall",
    ),
    pytest.param({"network": "internet", "firewall": "nosuch"}, 404, "firewall", (), id="unknown-firewall"),
    pytest.param(
        {"network": "internet", "firewall": "fw1", "project": "beta"},
        422,
        "project",
        ("belongs to its project (none)",),
        id="project-given",
    ),
    pytest.param(
        {"network": "internet", "firewall": "fw1", "address": "192.0.2.9"},
        422,
        "address",
        ("outside every prefix of network internet",),
        id="address-outside",
    ),
]


@pytest.mark.parametrize(("body", "status", "field", "words"), REFUSED)
async def test_bad_input_is_refused_whole(
    server: Server, body: dict[str, str], status: int, field: str, words: tuple[str, ...]
) -> None:
    async with admin(server) as api:
        before = await _firewall(api)
        ips_before = await api.request("GET", "/v1/ips")
        await expect_problem(api.request("POST", "/v1/ips", body), status, field, *words)
        # Nothing half-applied: no address, no new revision.
        assert (await _firewall(api)).revision == before.revision
        assert len(await api.request("GET", "/v1/ips")) == len(ips_before)


async def test_exhausted_network_is_refused_whole(server: Server) -> None:
    async with admin(server) as api:
        before = await _firewall(api)
        ips_before = await api.request("GET", "/v1/ips")
        # partner's IPv4 prefix is one address: the first attach takes it, the second finds it exhausted.
        last = await api.request("POST", "/v1/ips", {"network": "partner", "firewall": "fw1"})
        assert last["address"] == "192.0.2.77"
        middle = await _firewall(api)
        await expect_problem(
            api.request("POST", "/v1/ips", {"network": "partner", "firewall": "fw1"}),
            409,
            "network/partner/192.0.2.77/32",
            "(size 1) is exhausted",
            "network partner",
        )
        # Nothing half-applied: only the first attach's address, no new revision after the refusal.
        assert (await _firewall(api)).revision == middle.revision > before.revision
        assert len(await api.request("GET", "/v1/ips")) == len(ips_before) + 1


async def test_project_token_cannot_attach(server: Server) -> None:
    async with admin(server) as api:
        token = await api.request("POST", "/v1/tokens", {"role": "project", "subject": "alpha"})
        own = next(ip for ip in await api.request("GET", "/v1/ips") if ip["machine"] == "fw1")
    async with ApiClient(server.url, str(token["token"])) as alpha:
        await expect_problem(
            alpha.request("POST", "/v1/ips", {"network": "internet", "firewall": "fw1", "project": "alpha"}),
            403,
            "authorization",
            "may not attach addresses to firewall fw1",
        )
        # Nor take one away (a project-less address was otherwise any project's to release).
        await expect_problem(
            alpha.request("DELETE", f"/v1/ips/{own['address']}"),
            403,
            "authorization",
            "may not release an address of firewall fw1",
        )


async def test_free_releases_the_firewall_address(server: Server) -> None:
    async with admin(server) as api:
        own = [ip for ip in await api.request("GET", "/v1/ips") if ip["machine"] == "fw1"]
        assert {ip["network"] for ip in own} >= {"internet", "partner"}
        await api.request("POST", "/v1/firewalls/fw1/free")
        left = {ip["address"] for ip in await api.request("GET", "/v1/ips")}
        assert not left & {ip["address"] for ip in own}
        # Allocated again, it serves the networks but has no own address there until one is attached.
        await api.request("POST", "/v1/firewalls/fw1/allocate", {"networks": ["alpha-net", "internet"]})
        again = await _firewall(api)
        assert all(not v.addresses for v in again.vrfs) and [r.to for r in again.snat] == ["masquerade"]
        await expect_problem(
            api.request("POST", "/v1/ips", {"network": "partner", "firewall": "fw1"}),
            422,
            "network",
            "does not serve network partner",
        )
