"""SONiC's ``NULL`` placeholder, from a real Redis through the planner and back.

A key created without fields (``config vrf add`` writes ``VRF|Vrf..`` as ``NULL`` = ``NULL``) must
lose the placeholder when the plan writes its fields; a key that never had one must get no HDEL:
SONiC's managers subscribe to keyspace notifications, so a spurious ``hdel`` is an event they see.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
from switch_helpers import dump

from fabric.adapters.configdb import SonicDb
from fabric.core.observed import Observed
from fabric.core.ops import Plan, SetKey
from fabric.core.ownership import Ownership
from fabric.core.plan import Desired, plan
from lab.rig import RedisInstance

pytestmark = pytest.mark.needs("root", "redis")

OWNERSHIP = Ownership(vni_range=(100000, 100100), vlan_range=(1000, 1100), pxe_vlan=None, ports=frozenset())
HELD = {
    "VRF|Vrf100010": {"NULL": "NULL"},  # created without fields
    "VRF|Vrf100011": {"NULL": "NULL", "vni": "1"},  # the placeholder left beside a field
    "VRF|Vrf100012": {"vni": "2"},  # fields only
}
WANT = {
    "VRF": {f"Vrf{vni}": {"vni": str(vni)} for vni in (100010, 100011, 100012)},
    "VLAN": {"Vlan1002": {"vlanid": "1002"}},  # a new key
}


async def _events(
    db: SonicDb, config_db: redis.Redis, redis_server: RedisInstance, result: Plan
) -> list[tuple[str, str]]:
    """Apply `result` and return the keyspace events it fired, in order: (key, command)."""
    config_db.config_set("notify-keyspace-events", "KA")
    subscriber = redis_server.async_client(4)
    pubsub = subscriber.pubsub()
    await pubsub.psubscribe("__keyspace@4__:*")
    await pubsub.get_message(timeout=1.0)  # the psubscribe confirmation
    events: list[tuple[str, str]] = []
    try:
        for phase in result.phases:
            await db.apply_ops(phase)
        config_db.hset("END|marker", "a", "b")  # every event the phases fired arrives before this one
        async with asyncio.timeout(10):  # bounded: a missing notification fails, it does not hang
            while not events or events[-1][0] != "END|marker":
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    events.append((message["channel"].split(":", 1)[1], message["data"]))
    finally:
        await pubsub.aclose()
        await subscriber.aclose()
        config_db.config_set("notify-keyspace-events", "")
    config_db.delete("END|marker")
    return events[:-1]


async def test_placeholder_goes_only_where_it_was(
    db: SonicDb, config_db: redis.Redis, redis_server: RedisInstance
) -> None:
    for key, fields in HELD.items():
        config_db.hset(key, mapping=fields)
    observed = Observed.from_configdb(await db.read_tables(["VRF", "VLAN"]))
    result = plan(Desired(WANT, OWNERSHIP), observed)
    drops = {f"{op.table}|{op.key}": op.drop for _, op in result.ops() if isinstance(op, SetKey)}
    assert drops == {
        "VRF|Vrf100010": ("NULL",),
        "VRF|Vrf100011": ("NULL",),
        "VRF|Vrf100012": (),
        "VLAN|Vlan1002": (),
    }

    events = await _events(db, config_db, redis_server, result)
    assert events == [
        ("VRF|Vrf100010", "hset"),
        ("VRF|Vrf100010", "hdel"),
        ("VRF|Vrf100011", "hset"),
        ("VRF|Vrf100011", "hdel"),
        ("VRF|Vrf100012", "hset"),
        ("VLAN|Vlan1002", "hset"),
    ]
    assert {k: config_db.hgetall(k) for k in ("VRF|Vrf100010", "VRF|Vrf100011", "VLAN|Vlan1002")} == {
        "VRF|Vrf100010": {"vni": "100010"},
        "VRF|Vrf100011": {"vni": "100011"},
        "VLAN|Vlan1002": {"vlanid": "1002"},
    }


async def test_a_key_that_only_loses_fields_sees_one_hdel(
    db: SonicDb, config_db: redis.Redis, redis_server: RedisInstance
) -> None:
    """The DHCP relay leaves the PXE VLAN (a key of which only some fields are ours) and a tenant VLAN
    loses a field: each key sees one ``hdel`` and no ``hset`` (no placeholder beside its fields); a
    key left with no field gets the placeholder first, or Redis would delete it."""
    held = {
        "VLAN|Vlan4000": {"vlanid": "4000", "dhcp_servers@": "10.0.0.1,10.0.0.2"},
        "VLAN|Vlan1001": {"vlanid": "1001", "mtu": "9000"},
        "VRF|Vrf100010": {"NULL": "NULL", "vni": "100010"},
        "VRF|Vrf100011": {"vni": "100011"},
    }
    for key, fields in held.items():
        config_db.hset(key, mapping=fields)
    pxe = Ownership(vni_range=(100000, 100100), vlan_range=(1000, 1100), pxe_vlan=4000, ports=frozenset())
    want = {
        "VLAN": {"Vlan4000": {"vlanid": "4000"}, "Vlan1001": {"vlanid": "1001"}},
        "VRF": {"Vrf100010": {}, "Vrf100011": {}},
    }
    result = plan(Desired(want, pxe), Observed.from_configdb(await db.read_tables(["VRF", "VLAN"])))
    assert await _events(db, config_db, redis_server, result) == [
        ("VRF|Vrf100010", "hdel"),  # its placeholder stays: nothing to write
        ("VRF|Vrf100011", "hset"),  # the placeholder, before its last field goes
        ("VRF|Vrf100011", "hdel"),
        ("VLAN|Vlan1001", "hdel"),
        ("VLAN|Vlan4000", "hdel"),
    ]
    assert dump(config_db) == {
        "VLAN|Vlan1001": {"vlanid": "1001"},
        "VLAN|Vlan4000": {"vlanid": "4000"},
        "VRF|Vrf100010": {"NULL": "NULL"},
        "VRF|Vrf100011": {"NULL": "NULL"},
    }
    again = plan(Desired(want, pxe), Observed.from_configdb(await db.read_tables(["VRF", "VLAN"])))
    assert again.phases == ()  # and the next sync finds nothing to do
