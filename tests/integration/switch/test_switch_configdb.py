"""The CONFIG_DB adapter and a whole sync against a real Redis (and a real FRR for its version)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis
from switch_helpers import dump, state_filler, syncer, write_tables

from fabric.adapters.configdb import SonicDb, list_field
from fabric.core.ops import DelKey, Phase, SetKey, StateWait
from fabric.errors import ApplyError
from fabric.model import load
from fabric.model.switch import SwitchState
from fabric.switch.apply import Progress
from lab.rig import FrrInstance, RedisInstance

pytestmark = pytest.mark.needs("root", "netns", "frr", "redis")

LEAF = json.loads((Path(__file__).parents[2] / "data" / "examples" / "leaf01.json").read_text())
STATE = load(SwitchState, LEAF).sealed()

BASE: dict[str, dict[str, dict[str, str]]] = {
    "VXLAN_TUNNEL": {"vtep": {"src_ip": "10.0.0.11"}},
    "VXLAN_EVPN_NVO": {"nvo": {"source_vtep": "vtep"}},
    "LOOPBACK_INTERFACE": {"Loopback0": {}, "Loopback0|10.0.0.11/32": {}},
    "VLAN": {"Vlan4000": {"vlanid": "4000"}, "Vlan10": {"vlanid": "10"}},  # Vlan10: not ours
    "VRF": {"VrfMgmt": {}},  # not ours
    "PORT": {p.name: {"admin_status": "up", "mtu": "9100", "lanes": "1,2"} for p in STATE.ports},
    "DEVICE_METADATA": {"localhost": {"docker_routing_config_mode": "split", "hostname": "leaf01"}},
}
TENANT = {
    "VRF": {"Vrf100010": {"vni": "100010"}},
    "VLAN": {"Vlan1001": {"vlanid": "1001"}},
    "VLAN_INTERFACE": {"Vlan1001": {"vrf_name": "Vrf100010"}},
    "VXLAN_TUNNEL_MAP": {"vtep|map_100010_Vlan1001": {"vni": "100010", "vlan": "Vlan1001"}},
    "INTERFACE": {"Ethernet0": {"vrf_name": "Vrf100010", "ipv6_use_link_local_only": "enable"}},
}
UNPROVISIONED = {"VLAN_MEMBER": {"Vlan4000|Ethernet0": {"tagging_mode": "untagged"}}}


async def test_read_tables_scan_and_sonic_conventions(db: SonicDb, config_db: redis.Redis) -> None:
    write_tables(config_db, BASE)
    config_db.hset("VLAN|Vlan4000", "dhcp_servers@", "10.0.0.1,10.0.0.2")
    config_db.hset("OTHER|x", "a", "b")
    tables = await db.read_tables(["LOOPBACK_INTERFACE", "VLAN", "PORT"])
    # As Redis holds them: `Observed.from_configdb` hides the placeholder (and records where it was).
    assert tables["LOOPBACK_INTERFACE"] == {
        "Loopback0": {"NULL": "NULL"},
        "Loopback0|10.0.0.11/32": {"NULL": "NULL"},
    }
    assert tables["VLAN"]["Vlan4000"] == {"vlanid": "4000", "dhcp_servers@": "10.0.0.1,10.0.0.2"}
    assert set(tables) == {"LOOPBACK_INTERFACE", "VLAN", "PORT"}
    assert await db.ports() == [p.name for p in STATE.ports]


async def test_apply_phase_set_drop_null_and_delete(db: SonicDb, config_db: redis.Redis) -> None:
    config_db.hset("INTERFACE|Ethernet0", mapping={"vrf_name": "Vrf1", "stale": "x"})
    config_db.hset("VRF|Vrf100010", "NULL", "NULL")
    config_db.hset("VLAN|Vlan1001", "vlanid", "1001")
    phase = Phase(
        "p",
        (
            SetKey("INTERFACE", "Ethernet0", {"vrf_name": "Vrf100010"}, drop=("stale",)),
            SetKey("VRF", "Vrf100010", {"vni": "100010"}, drop=("NULL",)),  # gains fields, loses NULL
            SetKey("SUPPRESS_VLAN_NEIGH", "Vlan1001", {}),  # field-less key: NULL placeholder
            DelKey("VLAN", "Vlan1001"),
        ),
    )
    await db.apply_ops(phase)
    assert dump(config_db) == {
        "INTERFACE|Ethernet0": {"vrf_name": "Vrf100010"},
        "SUPPRESS_VLAN_NEIGH|Vlan1001": {"NULL": "NULL"},
        "VRF|Vrf100010": {"vni": "100010"},
    }


async def test_apply_phase_every_step_shape(db: SonicDb, config_db: redis.Redis) -> None:
    """Groups of one, two and three fields, drops of one and two, deletes, interleaved: Redis ends up
    holding exactly what the ops say."""
    for i in range(4):
        config_db.hset(f"T|d{i}", mapping={"a": "1", "b": "2", "c": "3", "NULL": "NULL"})
    ops: list[SetKey | DelKey] = []
    want: dict[str, dict[str, str]] = {}
    for i in range(12):
        fields = {f"f{n}": f"v{i}.{n}" for n in range(i % 3 + 1)}
        ops.append(SetKey("T", f"k{i}", fields))
        want[f"T|k{i}"] = fields
        if i % 4 == 0:
            ops.append(DelKey("T", f"k{i}"))
            del want[f"T|k{i}"]
    ops += [SetKey("T", "d0", {"a": "9"}, drop=("b", "c")), SetKey("T", "d1", {"a": "9"}, drop=("NULL",))]
    ops += [SetKey("T", "d2", {}, drop=("a", "b", "c")), DelKey("T", "d3")]
    want |= {"T|d0": {"a": "9", "NULL": "NULL"}, "T|d1": {"a": "9", "b": "2", "c": "3"}}
    want["T|d2"] = {"NULL": "NULL"}
    await db.apply_ops(Phase("p", tuple(ops)))
    assert dump(config_db) == want


async def test_apply_phase_after_redis_forgot_the_script(db: SonicDb, config_db: redis.Redis) -> None:
    """A restarted (or flushed) Redis answers NOSCRIPT: the script is loaded and the phase sent once more."""
    await db.apply_ops(Phase("p", (SetKey("VRF", "Vrf1", {"vni": "1"}),)))
    config_db.script_flush()
    await db.apply_ops(Phase("p", (SetKey("VRF", "Vrf2", {"vni": "2"}),)))
    assert dump(config_db) == {"VRF|Vrf1": {"vni": "1"}, "VRF|Vrf2": {"vni": "2"}}
    assert config_db.script_exists(db.apply_sha) == [True]


async def test_apply_phase_fires_the_keyspace_notifications_sonic_subscribes_to(
    db: SonicDb, config_db: redis.Redis, redis_server: RedisInstance
) -> None:
    """SONiC's managers (SubscriberStateTable) learn of CONFIG_DB changes from keyspace notifications:
    the one script per phase must fire them as single commands would, for every key, with list fields
    (``ports@``) written under their raw name."""
    config_db.config_set("notify-keyspace-events", "KA")
    config_db.hset("VLAN|Vlan1001", "vlanid", "1001")
    config_db.hset("INTERFACE|Ethernet0", mapping={"vrf_name": "Vrf1", "stale": "x"})
    subscriber = redis_server.async_client(4)
    pubsub = subscriber.pubsub()
    await pubsub.psubscribe("__keyspace@4__:*")
    await pubsub.get_message(timeout=1.0)  # the psubscribe confirmation
    name, members = list_field("members", ["Ethernet0", "Ethernet4"])
    phase = Phase(
        "p",
        (
            SetKey("INTERFACE", "Ethernet0", {"vrf_name": "Vrf100010"}, drop=("stale",)),
            SetKey("PORTCHANNEL", "PortChannel1", {name: members}),
            DelKey("VLAN", "Vlan1001"),
        ),
    )
    try:
        await db.apply_ops(phase)
        events: list[tuple[str, str]] = []

        async def collect() -> bool:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                events.append((message["channel"].split(":", 1)[1], message["data"]))
            return len(events) >= 4

        async with asyncio.timeout(10):  # bounded: a missing notification fails, it does not hang
            while not await collect():
                pass
    finally:
        await pubsub.aclose()
        await subscriber.aclose()
        config_db.config_set("notify-keyspace-events", "")
    assert events == [
        ("INTERFACE|Ethernet0", "hset"),
        ("INTERFACE|Ethernet0", "hdel"),
        ("PORTCHANNEL|PortChannel1", "hset"),
        ("VLAN|Vlan1001", "del"),
    ]
    assert config_db.hgetall("PORTCHANNEL|PortChannel1") == {"members@": "Ethernet0,Ethernet4"}


async def test_wait_state_follows_the_managers(db: SonicDb, redis_server: RedisInstance) -> None:
    async with state_filler(redis_server):
        await db.apply_ops(Phase("p", (SetKey("VRF", "Vrf100010", {"vni": "100010"}),)))
        async with asyncio.timeout(10):
            await db.wait_state([StateWait("VRF_TABLE", "Vrf100010")])
        await db.apply_ops(Phase("p", (DelKey("VRF", "Vrf100010"),)))
        async with asyncio.timeout(10):
            await db.wait_state([StateWait("VRF_TABLE", "Vrf100010", present=False)])


async def test_unprovisioned_to_tenant_and_back(
    db: SonicDb, config_db: redis.Redis, redis_server: RedisInstance, frr: FrrInstance
) -> None:
    write_tables(config_db, {**BASE, **UNPROVISIONED})
    before_foreign = {k: v for k, v in dump(config_db).items() if "Vlan10" in k or "VrfMgmt" in k}
    async with state_filler(redis_server):
        async with asyncio.timeout(20):
            result = await syncer(db, frr, TENANT).sync(STATE, Progress())
        assert result.ok and result.applied_revision == STATE.revision
        assert [t.phase for t in result.phases] == ["remove", "add"]
        held = dump(config_db)
        assert "VLAN_MEMBER|Vlan4000|Ethernet0" not in held
        assert held["INTERFACE|Ethernet0"]["vrf_name"] == "Vrf100010"
        result = await syncer(db, frr, UNPROVISIONED).sync(STATE, Progress())
        assert result.ok
    held = dump(config_db)
    assert "VRF|Vrf100010" not in held and "INTERFACE|Ethernet0" not in held
    assert held["VLAN_MEMBER|Vlan4000|Ethernet0"] == {"tagging_mode": "untagged"}
    assert {k: v for k, v in held.items() if "Vlan10" in k or "VrfMgmt" in k} == before_foreign
    assert held["PORT|Ethernet0"]["lanes"] == "1,2"  # fields not ours stay


@pytest.mark.parametrize(
    "remove", ["VXLAN_TUNNEL", "VXLAN_EVPN_NVO", "LOOPBACK_INTERFACE", "DEVICE_METADATA"]
)
async def test_missing_precondition_writes_nothing(
    db: SonicDb, config_db: redis.Redis, frr: FrrInstance, remove: str
) -> None:
    write_tables(config_db, {k: v for k, v in BASE.items() if k != remove})
    before = dump(config_db)
    with pytest.raises(ApplyError) as err:
        await syncer(db, frr, TENANT).sync(STATE, Progress())
    assert err.value.phase == "preconditions" and remove in str(err.value)
    assert dump(config_db) == before


async def test_guard_tripped_writes_nothing_unless_forced(
    db: SonicDb, config_db: redis.Redis, redis_server: RedisInstance, frr: FrrInstance
) -> None:
    vrfs = {f"Vrf{100010 + i}": {"vni": str(100010 + i)} for i in range(4)}
    ports = {p.name: {"vrf_name": f"Vrf{100010 + i % 4}"} for i, p in enumerate(STATE.ports)}
    write_tables(config_db, {**BASE, "VRF": {**BASE["VRF"], **vrfs}, "INTERFACE": ports})
    before = dump(config_db)
    with pytest.raises(ApplyError) as err:
        await syncer(db, frr, {}).sync(STATE, Progress())
    assert err.value.phase == "guard" and not err.value.retryable
    assert "ports" in str(err.value) and "VRFs" in str(err.value)
    assert dump(config_db) == before
    result = await syncer(db, frr, {}, force=True).sync(STATE, Progress())
    assert result.ok and config_db.keys("INTERFACE|*") == []


async def test_paused_switch_is_left_alone(db: SonicDb, config_db: redis.Redis, frr: FrrInstance) -> None:
    write_tables(config_db, BASE)
    before = dump(config_db)
    result = await syncer(db, frr, TENANT).sync(STATE.model_copy(update={"paused": True}), Progress())
    assert result.paused and dump(config_db) == before


async def test_plan_touching_foreign_keys_is_refused(
    db: SonicDb, config_db: redis.Redis, frr: FrrInstance
) -> None:
    write_tables(config_db, BASE)
    before = dump(config_db)
    foreign = {**TENANT, "VLAN": {"Vlan10": {"vlanid": "10", "mtu": "1500"}}}
    with pytest.raises(ApplyError, match=r"VLAN\|Vlan10") as err:
        await syncer(db, frr, foreign).sync(STATE, Progress())
    assert err.value.phase == "plan"
    assert dump(config_db) == before


def _entries(**fields: Any) -> dict[str, str]:
    return {k: str(v) for k, v in fields.items()}


async def test_lldp_and_oper_state_from_appl_db(db: SonicDb, redis_server: RedisInstance) -> None:
    appl = redis_server.client(0)
    appl.hset(
        "LLDP_ENTRY_TABLE:Ethernet120",
        mapping=_entries(
            lldp_rem_sys_name="spine01", lldp_rem_port_id="Ethernet0", lldp_rem_chassis_id="aa:bb"
        ),
    )
    appl.hset("PORT_TABLE:Ethernet120", mapping=_entries(oper_status="up"))
    appl.hset("PORT_TABLE:Ethernet124", mapping=_entries(oper_status="down"))
    lldp = await db.lldp_neighbours()
    assert [(n.port, n.sys_name, n.port_id) for n in lldp] == [("Ethernet120", "spine01", "Ethernet0")]
    appl.hset("LLDP_ENTRY_TABLE:Ethernet124", mapping=_entries(lldp_rem_sys_name="spine02"))
    assert [n.port for n in await db.lldp_neighbours()] == ["Ethernet120", "Ethernet124"]  # no restart
    assert [(p.name, p.oper) for p in await db.port_oper()] == [
        ("Ethernet120", "up"),
        ("Ethernet124", "down"),
    ]


async def test_a_cancelled_sync_really_stops(db: SonicDb, config_db: redis.Redis) -> None:
    """The loop's deadline cancels Redis calls at any point; every cancelled task must end.

    With redis-py 8's own socket timeouts (asyncio.wait_for on Python < 3.12) a cancellation landing
    as a reply arrives was swallowed and the task ran on forever: the hang of earlier test runs.
    """
    write_tables(config_db, BASE)

    async def busy() -> None:
        while True:
            await db.read_tables()
            await db.apply_ops(Phase("p", (SetKey("VRF", "Vrf100010", {"vni": "100010"}),)))
            await asyncio.sleep(0.001)  # under test: a cancel may also land between Redis calls

    for i in range(200):
        task = asyncio.create_task(busy())
        # Under test: the cancel lands at varying points of the sync (0 to 4 ms in), not a wait for state.
        await asyncio.sleep(0.0005 * (i % 9))
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        assert done, f"cancelled task {i} still runs"
    assert await db.ports()  # the clients still work
