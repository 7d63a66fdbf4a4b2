"""`fabric switch run` end to end: a real `fabric api` (SQLite), real Redis, real FRR, the real planner.

One daemon subprocess per module follows a leaf through its transitions, each observed in CONFIG_DB,
in FRR's running-config and in the status the daemon posts to the API (``GET /v1/status``).  The
test-only `StateFiller` stands in for SONiC's managers (there are none here): it mirrors CONFIG_DB
VRF/VLAN/INTERFACE keys into STATE_DB so the executor's waits complete.  Tests run in file order and
share the fabric's state, like an operator's day.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis
from daemon_helpers import (
    FABRIC,
    LEAF,
    DaemonProcess,
    eventually,
    fleet_row,
    wait_applied,
    wait_error,
)
from switch_helpers import dump

from fabric.adapters.api_client import ApiClient
from fabric.adapters.process import run
from fabric.model.switch import SwitchState
from lab.rig import FrrInstance

pytestmark = pytest.mark.needs("root", "netns", "frr", "redis")


async def doc(api: ApiClient) -> SwitchState:
    fetched = await api.get_state("switch", LEAF)
    assert isinstance(fetched.document, SwitchState)
    return fetched.document


async def running(frr: FrrInstance) -> str:
    return await asyncio.to_thread(frr.running_config)


def vrfs_in(db: redis.Redis) -> set[str]:
    return {k.split("|", 1)[1] for k in db.keys("VRF|*")}


async def applied(api: ApiClient, daemon: DaemonProcess) -> dict[str, Any]:
    try:
        return await wait_applied(api)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\ndaemon log:\n{daemon.tail()}") from None


async def test_start_registers_ports_and_applies_the_unprovisioned_leaf(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient, frr: FrrInstance
) -> None:
    row = await applied(api, daemon)
    state = await doc(api)
    # The daemon's own LLDP report cabled the leaf: machines on 0/4/8, the spine on 120.
    assert state.uplinks == ["Ethernet120"] and row["applied_revision"] == state.revision
    held = dump(world["db"])
    assert held[f"VLAN_MEMBER|Vlan{world['pxe']}|Ethernet0"] == {"tagging_mode": "untagged"}
    assert held["INTERFACE|Ethernet120"] == {"ipv6_use_link_local_only": "enable"}
    assert held["PORT|Ethernet0"]["lanes"] == "0"  # base config fields stay
    assert f"router bgp {state.switch.asn}" in await running(frr)


async def test_unprovisioned_to_tenant(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient, frr: FrrInstance
) -> None:
    await api.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
    await applied(api, daemon)
    port = (await doc(api)).port("Ethernet0")
    assert port is not None and port.role == "machine" and port.vrf is not None
    held = dump(world["db"])
    assert held["INTERFACE|Ethernet0"]["vrf_name"] == port.vrf
    assert f"VLAN_MEMBER|Vlan{world['pxe']}|Ethernet0" not in held
    assert port.vrf in vrfs_in(world["db"])
    config = await running(frr)
    assert (
        f"vrf {port.vrf}" in config and f"router bgp {(await doc(api)).switch.asn} vrf {port.vrf}" in config
    )


async def test_tenant_to_other_tenant_collects_the_old_vrf(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient, frr: FrrInstance
) -> None:
    old = (await doc(api)).port("Ethernet0")
    assert old is not None and old.vrf is not None
    await api.request("POST", "/v1/machines/m1/free")
    await api.request("POST", "/v1/machines/m1/allocate", {"project": "beta", "networks": ["beta-net"]})
    await applied(api, daemon)
    new = (await doc(api)).port("Ethernet0")
    assert new is not None and new.vrf is not None and new.vrf != old.vrf
    assert dump(world["db"])["INTERFACE|Ethernet0"]["vrf_name"] == new.vrf
    assert vrfs_in(world["db"]) == {new.vrf}  # garbage collected: no port uses the old VRF
    config = await running(frr)
    assert f"vrf {new.vrf}" in config and f"vrf {old.vrf}\n" not in config


async def test_tenant_to_unprovisioned(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient, frr: FrrInstance
) -> None:
    await api.request("POST", "/v1/machines/m1/free")
    await applied(api, daemon)
    held = dump(world["db"])
    assert "INTERFACE|Ethernet0" not in held and vrfs_in(world["db"]) == set()
    assert held[f"VLAN_MEMBER|Vlan{world['pxe']}|Ethernet0"] == {"tagging_mode": "untagged"}
    assert "\nvrf " not in await running(frr)


async def test_firewall_to_unprovisioned(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient, frr: FrrInstance
) -> None:
    await api.request("POST", "/v1/firewalls/fw1/allocate", {"networks": ["alpha-net", "internet"]})
    await applied(api, daemon)
    state = await doc(api)
    assert state.firewalls and state.firewalls[0].port == "Ethernet4"
    held = dump(world["db"])
    assert "vrf_name" not in held["INTERFACE|Ethernet4"]  # routed in the default VRF, towards the firewall
    assert vrfs_in(world["db"]) == set()  # its VNIs end on the firewall, not in VRFs of the leaf
    assert "neighbor Ethernet4 " in await running(frr)
    await api.request("POST", "/v1/firewalls/fw1/free")
    await applied(api, daemon)
    held = dump(world["db"])
    assert "INTERFACE|Ethernet4" not in held and vrfs_in(world["db"]) == set()
    assert held[f"VLAN_MEMBER|Vlan{world['pxe']}|Ethernet4"] == {"tagging_mode": "untagged"}
    assert "neighbor Ethernet4 " not in await running(frr)


async def test_vtep_missing_writes_nothing_is_reported_and_converges_once_back(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient
) -> None:
    db = world["db"]
    vtep = db.hgetall("VXLAN_TUNNEL|vtep")
    db.delete("VXLAN_TUNNEL|vtep")
    before = dump(db)
    await api.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
    row = await wait_error(api, "preconditions")
    assert "VXLAN_TUNNEL" in row["last_error"]
    assert dump(db) == before  # nothing written
    db.hset("VXLAN_TUNNEL|vtep", mapping=vtep)  # the operator fixes the switch; the retry converges
    await applied(api, daemon)
    assert "vrf_name" in dump(db)["INTERFACE|Ethernet0"]


async def test_guard_tripped_writes_nothing_until_forced(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient
) -> None:
    db = world["db"]
    await api.request("POST", "/v1/machines/fw1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
    await applied(api, daemon)
    daemon.stop()  # both machines are freed while the daemon is away: one sync takes down 2 of 4 ports
    await api.request("POST", "/v1/machines/m1/free")
    await api.request("POST", "/v1/machines/fw1/free")
    before = dump(db)
    daemon.start()
    row = await wait_error(api, "guard")
    assert "2 of 4 ports" in row["last_error"]
    assert dump(db) == before and "INTERFACE|Ethernet4" in before
    daemon.stop()
    forced = DaemonProcess(world["config"], world["tmp"] / "forced.log", "--force").start()
    try:
        await applied(api, forced)
    finally:
        forced.stop()
    assert "INTERFACE|Ethernet0" not in dump(db) and "INTERFACE|Ethernet4" not in dump(db)
    daemon.start()
    await applied(api, daemon)


async def test_pause_from_the_api_applies_nothing_until_resumed(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient
) -> None:
    db = world["db"]
    assert await api.request("POST", f"/v1/switches/{LEAF}/pause") == {"name": LEAF, "paused": True}
    assert (await doc(api)).paused
    await eventually(lambda: _paused(api), "the switch to report itself paused")
    before = dump(db)
    await api.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
    revision = (await doc(api)).revision
    await eventually(lambda: _logged_sync(daemon, revision), f"the daemon to see revision {revision}")
    assert dump(db) == before  # paused: the new tenant port is not applied
    await api.request("POST", f"/v1/switches/{LEAF}/resume")
    row = await applied(api, daemon)
    assert not row["paused"] and dump(db)["INTERFACE|Ethernet0"]["vrf_name"]
    await api.request("POST", "/v1/machines/m1/free")
    await applied(api, daemon)


async def _paused(api: ApiClient) -> bool:
    return bool((await fleet_row(api))["paused"])


async def _logged_sync(daemon: DaemonProcess, revision: int) -> bool:
    for line in daemon.log.read_text().splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("msg") == "sync done" and entry.get("revision") == revision:
            return True
    return False


async def test_admin_down_from_a_state_file(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient
) -> None:
    """No API endpoint sets a port's admin state yet: the same daemon runs on a state file instead."""
    daemon.stop()
    current = await doc(api)
    ports = [p.model_copy(update={"admin": "down"}) if p.name == "Ethernet8" else p for p in current.ports]
    edited = current.model_copy(update={"ports": ports}).sealed(current.revision + 1)
    state = edited.model_dump(mode="json", by_alias=True)
    path: Path = world["tmp"] / "leaf01.json"
    path.write_text(json.dumps(state))
    status = world["tmp"] / "leaf01.status.json"
    filed = DaemonProcess(
        world["config"], world["tmp"] / "file.log", "--state", str(path), "--status-file", str(status)
    ).start()
    try:

        async def down() -> bool:
            report = json.loads(status.read_text()) if status.exists() else {}
            ok = report.get("sync", {}).get("ok") and report["sync"]["applied_revision"] == state["revision"]
            return bool(ok) and world["db"].hget("PORT|Ethernet8", "admin_status") == "down"

        await eventually(down, "Ethernet8 admin down and reported applied")
    finally:
        filed.stop()
    assert world["db"].hget("PORT|Ethernet0", "admin_status") == "up"


async def test_plan_and_check_read_the_desired_state_from_the_api(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient
) -> None:
    """Without --state, `plan` and `check` ask `fabric api` (the config's URL and token), like `run`.
    The daemon is stopped (previous test) and the file-driven run left Ethernet8 admin down, which the
    API's document does not say: the plan brings it back up, and applies nothing."""
    assert not daemon.alive() and world["db"].hget("PORT|Ethernet8", "admin_status") == "down"
    before = dump(world["db"])
    planned = await asyncio.to_thread(
        run, [FABRIC, "switch", "plan", "--config", str(world["config"]), "--json"], timeout=60
    )
    assert planned.ok, planned.describe()
    ops = [op for phase in json.loads(planned.stdout)["phases"] for op in phase["ops"]]
    assert any(op.startswith("set PORT|Ethernet8 admin_status=up") for op in ops), ops
    assert dump(world["db"]) == before  # plan applies nothing
    checked = await asyncio.to_thread(
        run, [FABRIC, "switch", "check", "--config", str(world["config"])], timeout=60
    )
    assert checked.ok and "all preconditions met" in checked.stdout, checked.describe()
    world["db"].delete("VXLAN_TUNNEL|vtep")
    try:
        checked = await asyncio.to_thread(
            run, [FABRIC, "switch", "check", "--config", str(world["config"])], timeout=60
        )
    finally:
        world["db"].hset("VXLAN_TUNNEL|vtep", "src_ip", "10.0.0.11")
    assert not checked.ok and "VXLAN_TUNNEL" in checked.stderr, checked.describe()
