"""Operator calls over real HTTP on both engines: a switch port set admin down/up through the API, the
firewall's (and switch's) stored status read back whole, and `--if-match` on the CLI's writes."""

from __future__ import annotations

import json

from conftest import Server, fabric
from scenario import cable, declare, lldp_status
from test_api import admin, expect_problem

from fabric.adapters.api_client import ApiClient
from fabric.model.status import FirewallStatus, SyncResult


async def token(api: ApiClient, role: str, subject: str) -> str:
    return str((await api.request("POST", "/v1/tokens", {"role": role, "subject": subject}))["token"])


async def test_port_admin_down_and_up_through_the_api(server: Server) -> None:
    async with admin(server) as api:
        await declare(api)
        await cable(api)
        before = await api.get_state("switch", "leaf01")
        ports = {p.name: p for p in before.document.ports}  # type: ignore[union-attr]
        assert ports["Ethernet8"].admin == "up"
        answer = await api.set_port_admin("leaf01", "Ethernet8", "down")
        assert answer == {"switch": "leaf01", "port": "Ethernet8", "admin_status": "down"}
        after = await api.get_state("switch", "leaf01")
        assert after.revision is not None and before.revision is not None
        assert after.revision == before.revision + 1
        ports = {p.name: p for p in after.document.ports}  # type: ignore[union-attr]
        assert ports["Ethernet8"].admin == "down" and ports["Ethernet0"].admin == "up"
        # A new LLDP report (the daemon re-registering its ports) keeps the operator's word.
        await api.post_status("switch", "leaf01", lldp_status(0))
        kept = await api.get_state("switch", "leaf01")
        assert {p.name: p.admin for p in kept.document.ports}["Ethernet8"] == "down"  # type: ignore[union-attr]
        await expect_problem(api.set_port_admin("leaf01", "Ethernet99", "down"), 404, "port", "Ethernet99")
        await expect_problem(api.set_port_admin("leaf01", "Ethernet8", "sideways"), 422, "admin_status")
        audit = await api.request("GET", "/v1/audit", target="leaf01/Ethernet8")
        assert [a["action"] for a in audit] == ["switch.port-admin"]
        assert audit[0]["detail"] == {"admin_status": "down"}
        switch_token = await token(api, "switch", "leaf01")
    async with ApiClient(server.url, switch_token) as sw:
        await expect_problem(sw.set_port_admin("leaf01", "Ethernet8", "up"), 403, "authorization")
    up = fabric(server, "api", "port-admin", "leaf01", "Ethernet8", "up", "-o", "json")
    assert up.ok and json.loads(up.stdout)["admin_status"] == "up", up.describe()
    async with admin(server) as api:
        final = await api.get_state("switch", "leaf01")
        assert {p.name: p.admin for p in final.document.ports}["Ethernet8"] == "up"  # type: ignore[union-attr]
        assert final.revision == (after.revision or 0) + 1


async def test_stored_status_read_back_whole_with_authz(server: Server) -> None:
    reported = FirewallStatus(
        name="fw1", sync=SyncResult(applied_revision=3, ok=False, failing_phase="nft", reason="boom")
    )
    async with admin(server) as api:
        fw_token = await token(api, "firewall", "fw1")
        other_token = await token(api, "firewall", "fw2")
        await expect_problem(api.get_status("firewall", "fw1"), 404, "name")
    async with ApiClient(server.url, fw_token) as fw:
        await fw.post_status("firewall", "fw1", reported)
        assert await fw.get_status("firewall", "fw1") == reported
    async with ApiClient(server.url, other_token) as other:
        await expect_problem(other.get_status("firewall", "fw1"), 403, "authorization")
    async with admin(server) as api:
        assert await api.get_status("firewall", "fw1") == reported
        leaf = await api.get_status("switch", "leaf01")
        assert leaf.name == "leaf01" and leaf.lldp == lldp_status(0).lldp
    shown = fabric(server, "api", "status", "firewall", "fw1")
    assert shown.ok and json.loads(shown.stdout)["sync"]["reason"] == "boom", shown.describe()


async def test_if_match_on_the_cli_writes(server: Server) -> None:
    async with admin(server) as api:
        await api.request("POST", "/v1/machines/m1/allocate", {"networks": ["alpha-net"], "project": "alpha"})
        _, version = await api.versioned("GET", "/v1/machines/m1")
        ip, ip_version = await api.versioned("POST", "/v1/ips", {"network": "internet", "project": "alpha"})
        _, ip_version = await api.versioned("GET", f"/v1/ips/{ip['address']}")
    assert version is not None and ip_version is not None
    stale = '"v1-0000000000000000"'
    refused = fabric(server, "api", "free", "m1", "--if-match", stale)
    assert refused.rc == 1 and "HTTP 412: If-Match:" in refused.stderr, refused.describe()
    assert "machines/m1 changed since that version was read" in refused.stderr
    still = json.loads(fabric(server, "api", "show", "machines", "m1", "-o", "json").stdout)
    assert still["role"] == "machine" and still["ips"]  # nothing was freed
    freed = fabric(server, "api", "free", "m1", "--if-match", version)
    assert freed.ok, freed.describe()
    refused = fabric(server, "api", "release", ip["address"], "--if-match", stale)
    assert refused.rc == 1 and "HTTP 412: If-Match:" in refused.stderr, refused.describe()
    released = fabric(server, "api", "release", ip["address"], "--if-match", ip_version)
    assert released.ok, released.describe()
    refused = fabric(
        server,
        "api",
        "allocate",
        "machine",
        "m1",
        "-n",
        "alpha-net",
        "--project",
        "alpha",
        "--if-match",
        stale,
    )
    assert refused.rc == 1 and "HTTP 412: If-Match:" in refused.stderr, refused.describe()
