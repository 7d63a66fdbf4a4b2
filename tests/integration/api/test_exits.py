"""Exit routers declared on a switch, on both engines: the switch's document peers with them on their
port (only the VNIs of the external networks they route, only their underlay addresses), a declaration
naming a network that is not external is refused whole, and a routed network cannot be deleted."""

from __future__ import annotations

from typing import Any

from conftest import Server
from scenario import declare
from test_api import admin, expect_problem

from fabric.adapters.api_client import ApiClient
from fabric.model import SwitchState

SPINE: dict[str, Any] = {
    "name": "spine01",
    "partition": "fra",
    "rack": "r0",
    "role": "spine",
    "ports": ["Ethernet0", "Ethernet28"],
}
EXIT01 = {
    "name": "exit01",
    "port": "Ethernet28",
    "networks": ["internet"],
    "underlay": ["10.9.0.1", "fd00:9::1"],
}


async def spine(api: ApiClient) -> tuple[int, SwitchState]:
    fetched = await api.get_state("switch", "spine01")
    assert isinstance(fetched.document, SwitchState) and fetched.revision is not None
    return fetched.revision, fetched.document


async def test_setup(server: Server) -> None:
    async with admin(server) as api:
        await declare(api)
        await api.request("PUT", "/v1/switches/spine01", SPINE)


async def test_a_declared_exit_is_peered_on_its_port_with_its_vnis_only(server: Server) -> None:
    async with admin(server) as api:
        before, _ = await spine(api)
        done = await api.request("PUT", "/v1/switches/spine01", {**SPINE, "exits": [EXIT01]})
        assert done["changed"] == ["exits"]
        revision, state = await spine(api)
        assert revision == before + 1
        internet = (await api.request("GET", "/v1/networks/internet"))["vni"]
        assert [(e.port, e.vnis, [str(a.prefix) for a in e.allow]) for e in state.exits] == [
            ("Ethernet28", [internet], ["10.9.0.1/32", "fd00:9::1/128"])
        ]
        port = state.port("Ethernet28")
        assert port is not None and (port.role, port.description, port.admin) == ("exit", "exit01", "up")
        shown = await api.request("GET", "/v1/switches/spine01")
        assert shown["exits"] == [EXIT01]


async def test_an_exit_naming_a_network_that_is_not_external_is_refused_whole(server: Server) -> None:
    async with admin(server) as api:
        revision, state = await spine(api)
        bad = {**EXIT01, "networks": ["internet", "alpha-net", "nowhere"]}
        await expect_problem(
            api.request("PUT", "/v1/switches/spine01", {**SPINE, "sonic_version": "202411", "exits": [bad]}),
            422,
            "exits[0].networks",
            "alpha-net is a private network, not external",
        )
        assert await spine(api) == (revision, state)  # nothing written: not the exit, not the version
        assert (await api.request("GET", "/v1/switches/spine01"))["sonic_version"] == ""
        twice = [EXIT01, {**EXIT01, "name": "exit02"}]
        await expect_problem(
            api.request("PUT", "/v1/switches/spine01", {**SPINE, "exits": twice}), 422, "exits"
        )


async def test_a_network_an_exit_routes_cannot_be_deleted(server: Server) -> None:
    async with admin(server) as api:
        await expect_problem(
            api.request("DELETE", "/v1/networks/internet"),
            409,
            "name",
            "switches whose exits route it: spine01",
        )


async def test_without_its_exit_the_port_is_unused_again(server: Server) -> None:
    async with admin(server) as api:
        await api.request("PUT", "/v1/switches/spine01", SPINE)
        _, state = await spine(api)
        assert state.exits == []
        assert "exits" not in state.model_dump(mode="json")  # absent while empty: older hashes hold
        port = state.port("Ethernet28")
        assert port is not None and (port.role, port.admin) == ("unused", "down")
