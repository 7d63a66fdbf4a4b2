"""The API over real HTTP, on SQLite and on PostgreSQL: declare, cable, allocate, watch, free."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
from conftest import Server
from scenario import cable, declare, lldp_status

from fabric.adapters.api_client import ApiClient, ApiError
from fabric.model import FirewallState, MachineState, SwitchState


def admin(server: Server) -> ApiClient:
    return ApiClient(server.url, server.admin)


async def expect_problem(coro: Any, status: int, field: str, *words: str) -> ApiError:
    with pytest.raises(ApiError) as exc:
        await coro
    assert exc.value.status == status, exc.value
    assert exc.value.field == field, exc.value
    for word in words:
        assert word in exc.value.detail, exc.value
    return exc.value


async def test_declare_cable_allocate_and_free(server: Server) -> None:
    async with admin(server) as api:
        await declare(api)
        await cable(api)
        m1 = await api.request(
            "POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net", "internet"]}
        )
        assert m1["role"] == "machine" and m1["asn"] == 4210000000
        lb = await api.request("POST", "/v1/ips", {"network": "internet", "project": "alpha", "name": "lb"})
        await api.request("POST", "/v1/firewalls/fw1/allocate", {"networks": ["alpha-net", "internet"]})

        leaf = (await api.get_state("switch", "leaf01")).document
        assert isinstance(leaf, SwitchState)
        port = leaf.port("Ethernet0")
        assert port is not None and port.role == "machine" and port.description == "m1"
        allowed = {str(a.prefix) for a in port.allow}
        assert f"{lb['address']}/32" in allowed and "10.244.0.0/16" in allowed
        assert leaf.firewalls[0].port == "Ethernet4" and len(leaf.firewalls[0].vnis) == 2
        assert leaf.port("Ethernet8").role == "unprovisioned"  # type: ignore[union-attr]
        assert leaf.uplinks == ["Ethernet120"]
        machine = (await api.get_state("machine", "m1")).document
        assert isinstance(machine, MachineState) and machine.uplinks == ["lan0", "lan1"]
        firewall = (await api.get_state("firewall", "fw1")).document
        assert isinstance(firewall, FirewallState) and firewall.snat[0].sources

        before = await api.request("GET", "/v1/machines/m1")
        await api.request("POST", "/v1/machines/m1/free")
        await api.request("POST", "/v1/machines/m1/free")  # idempotent
        after = await api.request("GET", "/v1/machines/m1")
        assert after["role"] is None and after["ips"] == [] and before["ips"]
        await expect_problem(api.get_state("machine", "m1"), 404, "name")
        leaf = (await api.get_state("switch", "leaf01")).document
        assert leaf.port("Ethernet0").role == "unprovisioned"  # type: ignore[union-attr]
        # Its ASN and addresses went back to the pools: the next allocation gets the same ones.
        again = await api.request(
            "POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]}
        )
        assert again["asn"] == before["asn"] and set(again["ips"]) <= set(before["ips"])

        audit = await api.request("GET", "/v1/audit", target="m1")
        assert [a["action"] for a in audit][:3] == ["machine.allocate", "machine.free", "machine.free"]
        assert audit[0]["who"].startswith("admin:")


async def test_etag_watch_and_diff(server: Server) -> None:
    async with admin(server) as api:
        first = await api.get_state("switch", "leaf02")
        assert first.document is not None and first.etag
        unchanged = await api.get_state("switch", "leaf02", etag=first.etag)
        assert unchanged.document is None  # 304
        timed_out = await api.watch_state("switch", "leaf02", since=first.document.revision, wait=0.3)
        assert timed_out.document is None and timed_out.revision == first.document.revision
        watcher = asyncio.create_task(
            api.watch_state("switch", "leaf02", since=first.document.revision, wait=30)
        )
        # Give the watch a turn to be sent first; either order is correct (since= answers at once
        # when the revision already passed), so nothing here depends on who wins.
        await asyncio.sleep(0)
        # Silence keeps an allocated machine cabled (a link down is not a recabling) ...
        await api.post_status(
            "switch", "leaf02", lldp_status(1, with_lonely=False).model_copy(update={"lldp": []})
        )
        assert (await api.get_state("switch", "leaf02", etag=first.etag)).document is None  # 304
        # ... another device heard on its port is.
        recabled = [
            n.model_copy(update={"port_id": "aa:00:00:00:99:99"}) if n.port == "Ethernet0" else n
            for n in lldp_status(1, with_lonely=False).lldp
        ]
        await api.post_status("switch", "leaf02", lldp_status(1).model_copy(update={"lldp": recabled}))
        woke = await asyncio.wait_for(watcher, 30)
        assert woke.document is not None and woke.document.revision == first.document.revision + 1
        changes = await api.request(
            "GET",
            "/v1/switches/leaf02/diff",
            **{"from": first.document.revision, "to": woke.document.revision},
        )
        assert {"path": "ports[Ethernet0].role", "from": "machine", "to": "unprovisioned"} in changes


async def test_fleet_status(server: Server) -> None:
    async with admin(server) as api:
        rows = {r["name"]: r for r in await api.request("GET", "/v1/status")}
        assert rows["leaf01"]["applied_revision"] == 0 and rows["leaf01"]["outdated"] is True
        assert rows["spine01"]["stale"] is True and rows["spine01"]["heartbeat_age"] is None
        assert rows["fw1"]["kind"] == "firewall"


async def test_bad_input_names_field_and_reason(server: Server) -> None:
    async with admin(server) as api:
        net = {"partition": "fra", "kind": "external"}
        await expect_problem(
            api.request("POST", "/v1/networks", {**net, "name": "x1", "prefixes": ["10.0.0.1/24"]}),
            422,
            "prefixes[0]",
            "host bits",
        )
        await expect_problem(
            api.request("POST", "/v1/networks", {**net, "name": "x2", "prefixes": ["203.0.113.128/25"]}),
            409,
            "prefixes[0]",
            "overlaps 203.0.113.0/24",
        )
        await expect_problem(api.request("POST", "/v1/networks", {**net, "name": "bad name"}), 422, "name")
        await expect_problem(
            api.request("POST", "/v1/networks", {**net, "name": "x3", "partition": "nowhere"}),
            404,
            "partition",
            "nowhere",
        )
        await expect_problem(
            api.request("POST", "/v1/ips", {"network": "internet", "address": "198.51.100.1"}),
            422,
            "address",
            "outside every prefix",
        )
        await expect_problem(
            api.request(
                "POST", "/v1/machines/nope/allocate", {"project": "alpha", "networks": ["alpha-net"]}
            ),
            404,
            "name",
        )
        await expect_problem(
            api.request(
                "POST", "/v1/machines/lonely/allocate", {"project": "alpha", "networks": ["alpha-net"]}
            ),
            422,
            "name",
            "dual-attached",
        )
        await expect_problem(
            api.request(
                "POST",
                "/v1/networks",
                {
                    "name": "b",
                    "partition": "fra",
                    "kind": "private",
                    "parent": "tenants",
                    "project": "beta",
                    "lengths": {"4": 12},
                },
            ),
            422,
            "lengths.4",
            "longer than the parent",
        )


async def test_exhausted_pool_names_pool_and_size_and_writes_nothing(server: Server) -> None:
    async with admin(server) as api:
        await api.request(
            "POST",
            "/v1/networks",
            {"name": "tiny", "partition": "fra", "kind": "external", "prefixes": ["198.18.0.0/30"]},
        )
        for _ in range(2):
            await api.request("POST", "/v1/ips", {"network": "tiny"})
        err = await expect_problem(
            api.request("POST", "/v1/ips", {"network": "tiny"}),
            409,
            "network/tiny/198.18.0.0/30",
            "(size 2) is exhausted",
        )
        assert err.problem["pool"] == "network/tiny/198.18.0.0/30" and err.problem["size"] == "2"
        # A network whose VNI is taken writes nothing: no network, no prefix, no pool.
        await expect_problem(
            api.request(
                "POST",
                "/v1/networks",
                {
                    "name": "dup",
                    "partition": "fra",
                    "kind": "external",
                    "prefixes": ["198.19.0.0/24"],
                    "vni": 100000,
                },
            ),
            409,
            "partition/fra/vni",
            "not free",
        )
        names = [n["name"] for n in await api.request("GET", "/v1/networks")]
        assert "dup" not in names
        await api.request(
            "POST",
            "/v1/networks",
            {"name": "dup", "partition": "fra", "kind": "external", "prefixes": ["198.19.0.0/24"]},
        )


def test_openapi_healthz_metrics(server: Server) -> None:
    with urllib.request.urlopen(f"{server.url}/v1/openapi.json") as r:
        spec = json.load(r)
    assert spec["openapi"] == "3.1.0"
    state = spec["paths"]["/v1/switches/{name}/state"]["get"]
    assert state["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SwitchState")
    assert "304" in state["responses"]
    assert "MachineAllocate" in spec["components"]["schemas"] and "Problem" in spec["components"]["schemas"]
    with urllib.request.urlopen(f"{server.url}/metrics") as r:
        assert b"fabric_api_requests_total" in r.read()


async def test_stale_if_match_is_412_naming_the_header_and_writes_nothing(server: Server) -> None:
    async with admin(server) as api:
        m1, read = await api.versioned("GET", "/v1/machines/m1")
        v6 = [a for a in m1["ips"] if ":" in a]
        assert read is not None and m1["role"] == "machine" and v6
        _, same = await api.versioned("GET", "/v1/machines/m1")
        assert same == read  # a version is stable while nothing changes
        # Another client changes m1 after we read it: one of its IPs is released.
        await api.request("DELETE", f"/v1/ips/{v6[0]}")
        audit_before = await api.request("GET", "/v1/audit", target="m1")
        err = await expect_problem(
            api.versioned("POST", "/v1/machines/m1/free", if_match=read),
            412,
            "If-Match",
            "changed since that version was read",
        )
        current = err.problem["etag"]
        assert current not in (read, None) and err.problem["errors"][0]["field"] == "If-Match"
        # Nothing was written: still allocated, no audit entry, and the version is the one 412 named.
        shown, now = await api.versioned("GET", "/v1/machines/m1")
        assert shown["role"] == "machine" and now == current
        assert await api.request("GET", "/v1/audit", target="m1") == audit_before
        # With the current version the write goes through and answers with the new version.
        freed, after = await api.versioned("POST", "/v1/machines/m1/free", if_match=current)
        assert freed["role"] is None and freed["ips"] == [] and after not in (None, current)
        # Weak and quoted forms are accepted; `*` means "whatever it is, as long as it exists".
        _, weak = await api.versioned("POST", "/v1/machines/m1/free", if_match=f"W/{after}")
        assert weak == after  # freeing a free machine changes nothing
        await api.versioned("POST", "/v1/machines/m1/free", if_match="*")
        await expect_problem(
            api.versioned("POST", "/v1/machines/nope/free", if_match="*"), 404, "name", "nope"
        )
        # An IP's release is conditional too.
        ip = await api.request("POST", "/v1/ips", {"network": "internet", "project": "beta"})
        _, ip_version = await api.versioned("GET", "/v1/ips/" + ip["address"])
        await expect_problem(
            api.versioned("DELETE", f"/v1/ips/{ip['address']}", if_match='"v1-0"'), 412, "If-Match"
        )
        await api.versioned("DELETE", f"/v1/ips/{ip['address']}", if_match=ip_version)
