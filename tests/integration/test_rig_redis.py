"""A private Redis (the lab's CONFIG_DB): starts, answers on its unix socket, stops clean."""

from __future__ import annotations

import pytest

from lab.rig import Rig, procs

pytestmark = pytest.mark.needs("netns", "redis")

CONFIG_DB = 4


def test_redis_starts_answers_and_stops_clean(rig: Rig) -> None:
    server = rig.redis("configdb")
    assert server.socket_path.is_socket()
    assert server.daemon is not None
    pid, start = server.daemon.pid, server.daemon.item.start

    db = server.client(CONFIG_DB)
    assert db.ping()
    db.hset("VRF|Vrf100", mapping={"vni": "100"})
    assert db.hgetall("VRF|Vrf100") == {"vni": "100"}
    assert server.client(15).dbsize() == 0  # SONiC's databases 0..15 exist and are separate

    server.stop()
    assert not procs.alive(pid, start)
    assert not server.socket_path.exists()  # redis removes its socket on SIGTERM
    assert all(item.pid != pid for item in rig.ledger.items)  # dropped from the ledger


async def test_redis_keyspace_notifications_reach_an_asyncio_client(rig: Rig) -> None:
    server = rig.redis("notify", notify_keyspace_events="Kh")
    client = server.async_client(CONFIG_DB)
    try:
        pubsub = client.pubsub()
        await pubsub.psubscribe(f"__keyspace@{CONFIG_DB}__:*")
        await client.hset("PORT|Ethernet0", "mtu", "9100")
        seen = []
        for _ in range(3):  # the subscribe confirmation, then the hset event
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
            if message is not None:
                seen.append((message["channel"], message["data"]))
                break
        assert seen == [(f"__keyspace@{CONFIG_DB}__:PORT|Ethernet0", "hset")]
        await pubsub.aclose()
    finally:
        await client.aclose()
        server.stop()
