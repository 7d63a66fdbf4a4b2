"""SONiC's ``NULL`` placeholder, from a real Redis through the planner and back.

A key created without fields (``config vrf add`` writes ``VRF|Vrf..`` as ``NULL`` = ``NULL``) must
lose the placeholder when the plan writes its fields; a key that never had one must get no HDEL:
SONiC's managers subscribe to keyspace notifications, so a spurious ``hdel`` is an event they see.
"""

from __future__ import annotations

import asyncio

import pytest
import redis

from fabric.adapters.configdb import SonicDb
from fabric.core.observed import Observed
from fabric.core.ops import SetKey
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
    assert events[:-1] == [
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
