"""Fixtures: one real Redis and one real FRR (in a throwaway namespace) per test module; for the
end-to-end modules also a real `fabric api` on SQLite, the declared fabric and `fabric switch run`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from daemon_helpers import LEAF, DaemonProcess, api_helpers, prepare_switch, scenario, write_config
from switch_helpers import CONFIG_DB, state_filler

from fabric.adapters.api_client import ApiClient
from fabric.adapters.configdb import SonicDb
from fabric.adapters.sonicdb import DbLayout
from fabric.model.switch import SwitchState
from lab.rig import FrrInstance, RedisInstance, Rig


@pytest.fixture(scope="module")
def redis_server(rig: Rig) -> RedisInstance:
    return rig.redis("switchdb")


@pytest.fixture(scope="module")
def frr(rig: Rig) -> FrrInstance:
    ns = rig.netns("sw1")
    return rig.frr(ns, "sw1")


@pytest.fixture
def config_db(redis_server: RedisInstance) -> Iterator[redis.Redis]:
    """A sync client of CONFIG_DB; every database is flushed before each test."""
    client = redis_server.client(CONFIG_DB)
    client.flushall()
    yield client


@pytest.fixture
async def db(redis_server: RedisInstance, config_db: redis.Redis) -> AsyncIterator[SonicDb]:
    sonic = SonicDb(DbLayout.on_socket(str(redis_server.socket_path)))
    yield sonic
    await sonic.close()


GUARD = {"max_port_share": 0.25, "min_ports": 1, "max_vrf_share": 0.5, "min_vrfs": 3}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    helpers = api_helpers()
    srv = helpers.start_server(f"sqlite:///{tmp_path_factory.mktemp('store')}/fabric.db", "sqlite")
    try:
        yield srv
    finally:
        helpers.stop_server(srv.pid)


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest,
    api_server: Any,
    redis_server: RedisInstance,
    frr: FrrInstance,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Declare the fabric, give the leaf a switch token, write its base CONFIG_DB and config file
    (a test module's `DAEMON_CONFIG` dict overrides top-level sections of the configuration)."""
    tmp = tmp_path_factory.mktemp("daemon")

    async def declare() -> tuple[str, int]:
        async with ApiClient(api_server.url, api_server.admin) as api:
            await scenario().declare(api)
            # leaf02 (not under test) reports its cabling: machines are dual-attached.
            await api.post_status("switch", "leaf02", scenario().lldp_status(1))
            await api.request(
                "POST",
                "/v1/networks",
                {
                    "name": "beta-net",
                    "partition": "fra",
                    "kind": "private",
                    "parent": "tenants",
                    "project": "beta",
                },
            )
            token = await api.request("POST", "/v1/tokens", {"role": "switch", "subject": LEAF})
            state = (await api.get_state("switch", LEAF)).document
            assert isinstance(state, SwitchState) and state.pxe_vlan is not None
            return token["token"], state.pxe_vlan

    secret, pxe_vlan = asyncio.run(declare())
    token = tmp / "switch.token"
    token.write_text(secret + "\n")
    config_db = redis_server.client(4)
    prepare_switch(redis_server, config_db, pxe_vlan)
    over = {"guard": GUARD, **getattr(request.module, "DAEMON_CONFIG", {})}
    config = write_config(
        tmp / "switch.yaml", url=api_server.url, token=token, server=redis_server, instance=frr, **over
    )
    return {"config": config, "tmp": tmp, "pxe": pxe_vlan, "db": config_db}


@pytest.fixture(scope="module")
def daemon(world: dict[str, Any]) -> Iterator[DaemonProcess]:
    proc = DaemonProcess(world["config"], world["tmp"] / "daemon.log").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def api(api_server: Any, redis_server: RedisInstance) -> AsyncIterator[ApiClient]:
    """An admin client; SONiC's managers (the STATE_DB filler) run while the test does."""
    async with ApiClient(api_server.url, api_server.admin) as client, state_filler(redis_server):
        yield client


@pytest.fixture
async def admin(api_server: Any) -> AsyncIterator[ApiClient]:
    """An admin client without the STATE_DB filler (tests that stop SONiC's managers themselves)."""
    async with ApiClient(api_server.url, api_server.admin) as client:
        yield client
