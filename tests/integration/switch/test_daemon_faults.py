"""`fabric switch run` under faults, against a real `fabric api`, Redis and FRR and the real planner.

- the API goes away: what is applied stays, the watch retries with backoff, nothing is written;
- Redis dies while a change is between phases (its redis-server killed by PID, restarted on the same
  socket): no port is half-written, the daemon converges once Redis is back;
- FRR is down: reported before anything is written, retried with backoff, converges once it is back;
- the daemon is SIGKILLed between two phases of a change: the next start converges;
- a port the document uses is in use outside fabric: refused naming the key, converges once removed.

A change is held between phases by stopping the test's STATE_DB filler (the stand-in of SONiC's
managers): the executor then waits on STATE_DB after the first phase that needs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import pytest
from daemon_helpers import DaemonProcess, eventually, fleet_row, wait_applied, wait_error
from switch_helpers import dump, state_filler

from fabric.adapters.api_client import ApiClient
from fabric.adapters.process import spawn
from lab.rig import FrrInstance, RedisInstance

pytestmark = pytest.mark.needs("root", "netns", "frr", "redis")

# FRR calls time out after 10 s (a reload without bgpd hangs in frr-reload.py until then).
DAEMON_CONFIG = {"frr": {"timeout": 10}}


async def applied(api: ApiClient, daemon: DaemonProcess) -> dict[str, Any]:
    try:
        return await wait_applied(api, timeout=45)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\ndaemon log:\n{daemon.tail()}") from None


def log_entries(daemon: DaemonProcess) -> list[dict[str, Any]]:
    lines = daemon.log.read_text().splitlines() if daemon.log.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


async def held_between_phases(world: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Wait until the daemon wrote `add-vrf` and waits on STATE_DB for it (the filler is stopped)."""

    async def vrf_written() -> bool:
        return bool(world["db"].keys("VRF|*"))

    await eventually(vrf_written, "the first phase (add-vrf) to be written")
    held: dict[str, dict[str, str]] = dump(world["db"])
    return held


async def test_starts_and_applies(world: dict[str, Any], daemon: DaemonProcess, api: ApiClient) -> None:
    await applied(api, daemon)


async def test_api_unreachable_keeps_what_is_applied_and_retries_with_backoff(
    world: dict[str, Any],
    daemon: DaemonProcess,
    api_server: Any,
    frr: FrrInstance,
    redis_server: RedisInstance,
) -> None:
    before, frr_before = dump(world["db"]), frr.running_config()
    seen = len(log_entries(daemon))
    os.kill(api_server.pid, signal.SIGTERM)
    os.waitpid(api_server.pid, 0)

    async def retried() -> list[float]:
        delays = [
            float(e["msg"].split("retrying in ")[1].split("s")[0])
            for e in log_entries(daemon)[seen:]
            if e["msg"].startswith("desired state unavailable")
        ]
        return delays if len(delays) >= 4 else []

    delays = await eventually(retried, "the daemon to retry the API with backoff", timeout=30)
    assert all(0 < d <= 1.0 for d in delays)  # backoff_max of the test's configuration
    assert dump(world["db"]) == before and frr.running_config() == frr_before  # data plane untouched
    # The API comes back on the same address and database: the daemon resumes watching.
    proc = spawn(
        [*api_helpers_argv(api_server)],
        env={**os.environ, "FABRIC_ADMIN_TOKEN": api_server.admin},
        stdout_path=str(api_server.log),
    )
    api_server.pid = proc.pid
    api_helpers().wait_healthy(api_server.url, proc.pid, api_server.log)
    async with ApiClient(api_server.url, api_server.admin) as api, state_filler(redis_server):
        await api.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
        await applied(api, daemon)
        assert "vrf_name" in dump(world["db"])["INTERFACE|Ethernet0"]
        await api.request("POST", "/v1/machines/m1/free")
        await applied(api, daemon)


def api_helpers() -> Any:
    from daemon_helpers import api_helpers as load

    return load()


def api_helpers_argv(server: Any) -> list[str]:
    from daemon_helpers import FABRIC

    listen = server.url.removeprefix("http://")
    return [FABRIC, "api", "serve", "--db", server.db, "--listen", listen]


async def test_redis_killed_between_phases_converges_on_restart(
    world: dict[str, Any], daemon: DaemonProcess, admin: ApiClient, redis_server: RedisInstance
) -> None:
    await admin.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
    held = await held_between_phases(world)
    assert "INTERFACE|Ethernet0" not in held or "vrf_name" not in held["INTERFACE|Ethernet0"]
    world["db"].save()  # what SONiC reloads at restart (config_db.json): the state of the kill
    assert redis_server.daemon is not None
    os.kill(redis_server.daemon.pid, signal.SIGKILL)
    redis_server.stop()  # reaps it and drops it from the ledger

    async def redis_failure() -> bool:
        return any("redis" in e.get("msg", "") for e in log_entries(daemon))

    await eventually(redis_failure, "the daemon to log the Redis failure")
    redis_server.start()  # same dir, same socket; loads the saved keys
    world["db"] = redis_server.client(4)
    reloaded = dump(world["db"])
    assert reloaded == held  # every phase was one transaction: nothing half-written
    async with state_filler(redis_server):
        await applied(admin, daemon)
        assert "vrf_name" in dump(world["db"])["INTERFACE|Ethernet0"]
        await admin.request("POST", "/v1/machines/m1/free")
        await applied(admin, daemon)


async def test_frr_down_is_reported_nothing_written_retried_and_converges(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient, frr: FrrInstance
) -> None:
    """FRR's daemons are down (as while SONiC's bgp container restarts): the sync stops at the
    preconditions (FRR's version is unknown) before writing anything, is reported and retried with
    backoff; once FRR is back the change is applied.  A reload that fails while FRR runs (restoring
    the last good config) is tested on the adapter against real FRR in test_frr.py."""
    await asyncio.to_thread(frr.stop)
    seen, before = len(log_entries(daemon)), dump(world["db"])
    await api.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
    row = await wait_error(api, "preconditions", timeout=60)
    assert "FRR: version unknown" in row["last_error"] and dump(world["db"]) == before

    async def retried() -> bool:
        entries = log_entries(daemon)[seen:]
        return sum(e["msg"].startswith("retrying in") for e in entries) >= 3

    await eventually(retried, "the daemon to retry with backoff", timeout=60)
    await asyncio.to_thread(frr.start)  # FRR back with the rig's own config, not ours
    await applied(api, daemon)
    port = dump(world["db"])["INTERFACE|Ethernet0"]["vrf_name"]
    assert f"vrf {port}" in frr.running_config()
    await api.request("POST", "/v1/machines/m1/free")
    await applied(api, daemon)


async def test_a_port_in_use_outside_fabric_is_refused_naming_the_key_then_converges(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient
) -> None:
    """m1's leaf port is a PortChannel member on the switch (configured by hand): allocating m1 is
    refused by the preconditions naming that key, nothing is written, and the daemon retries; once the
    operator removes the membership, the allocation is applied."""
    await applied(api, daemon)
    db = world["db"]
    db.hset("PORTCHANNEL|PortChannel0001", mapping={"admin_status": "up", "mtu": "9100"})
    db.hset("PORTCHANNEL_MEMBER|PortChannel0001|Ethernet0", mapping={"NULL": "NULL"})
    before = dump(db)
    await api.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
    row = await wait_error(api, "configdb:preconditions", timeout=60)
    assert "PORTCHANNEL_MEMBER|PortChannel0001|Ethernet0" in row["last_error"], row
    assert dump(db) == before  # nothing written
    db.delete("PORTCHANNEL_MEMBER|PortChannel0001|Ethernet0", "PORTCHANNEL|PortChannel0001")
    await applied(api, daemon)
    assert dump(db)["INTERFACE|Ethernet0"]["vrf_name"].startswith("Vrf")
    await api.request("POST", "/v1/machines/m1/free")
    await applied(api, daemon)


async def test_daemon_killed_between_phases_converges_on_next_start(
    world: dict[str, Any], daemon: DaemonProcess, admin: ApiClient, redis_server: RedisInstance
) -> None:
    await admin.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
    await held_between_phases(world)
    daemon.stop(signal.SIGKILL)
    daemon.start()
    async with state_filler(redis_server):
        await applied(admin, daemon)
    row = await fleet_row(admin)
    assert not row["last_error"] and "vrf_name" in dump(world["db"])["INTERFACE|Ethernet0"]
