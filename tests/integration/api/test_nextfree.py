"""The one-statement IP acquire (`fabric.adapters.store.nextfree`) against the store on both engines:
its SQL functions agree with Python's arithmetic, it costs one statement, and whatever it cannot do falls
back to the general path with the same errors."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, select, text

from fabric.adapters.store.bodies import IpAcquire, NetworkCreate, PartitionCreate
from fabric.adapters.store.engine import Database
from fabric.adapters.store.schema import FreeRange, Prefix
from fabric.adapters.store.service import Store
from fabric.adapters.store.tokens import Principal
from fabric.core.ipam import key, unkey
from fabric.errors import AllocationError, ValidationError

ME = Principal("test", "admin")


async def _partition(url: str) -> None:
    db = Database(url)
    await db.migrate()
    await Store(db).create_partition(
        ME,
        PartitionCreate(
            name="p",
            vni_range={"first": 1, "last": 100},
            machine_asn_range={"first": 65000, "last": 65100},
            switch_asn_range={"first": 64512, "last": 64600},
            loopback_prefix="10.255.0.0/24",
        ),
    )
    await db.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path_factory.mktemp('nextfree')}/fabric.db"
    else:
        db_url = request.getfixturevalue("postgres").createdb(f"nf_{secrets.token_hex(4)}")
    asyncio.run(_partition(db_url))
    return str(db_url)


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    db = Database(url)
    yield Store(db)
    await db.close()


VALUES = [0, 5, 2**32 - 1, 2**32, 2**64 - 1, 2**96 - 1, 2**128 - 2]
ADDRESSES = [(4, 0x0A000001), (4, 0xFFFFFFFE), (6, 0x20010DB8 << 96 | 1), (6, 1 << 112 | 1 << 16)]


async def test_sql_functions_agree_with_python(store: Store) -> None:
    async with store.db.read() as s:
        for v in VALUES:
            got = (await s.execute(text("SELECT fabric_key_add(:k, 1)"), {"k": key(v)})).scalar_one()
            assert got == key(v + 1), v
        for family, v in ADDRESSES:
            got = (
                await s.execute(text("SELECT fabric_address(:k, :f)"), {"k": key(v), "f": family})
            ).scalar_one()
            assert got == str(ipaddress.ip_address(v) if family == 6 else ipaddress.IPv4Address(v))


async def _spans(store: Store, cidr: str) -> list[tuple[int, int]]:
    async with store.db.read() as s:
        pool = (await s.execute(select(Prefix.pool_id).where(Prefix.cidr == cidr))).scalar_one()
        rows = await s.execute(
            select(FreeRange.first, FreeRange.last).where(FreeRange.pool_id == pool).order_by(FreeRange.first)
        )
        return [(unkey(a), unkey(b)) for a, b in rows]


async def test_next_free_in_one_statement_and_spans_follow(store: Store) -> None:
    await store.create_network(
        ME,
        NetworkCreate(
            name="small", partition="p", kind="external", prefixes=["192.0.2.0/29", "2001:db8::/126"]
        ),
    )
    statements: list[str] = []

    @event.listens_for(store.db.engine.sync_engine, "before_cursor_execute")
    def _count(_c: object, _cur: object, sql: str, *_a: object) -> None:
        statements.append(sql)

    try:
        await store.acquire_ip(ME, IpAcquire(network="small", address="192.0.2.2"))  # the general path
        statements.clear()
        first = await store.acquire_ip(ME, IpAcquire(network="small"))
        # The INSERT … SELECT (its trigger shrinks the span) and the audit entry (and SQLite's BEGIN).
        sent = [q.split()[:3] for q in statements if not q.startswith("BEGIN")]
        assert sent == [["INSERT", "INTO", "ips"], ["INSERT", "INTO", "audit"]]
        assert first["address"] == "192.0.2.1"
        got = [(await store.acquire_ip(ME, IpAcquire(network="small")))["address"] for _ in range(4)]
        assert got == ["192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6"]
        assert await _spans(store, "192.0.2.0/29") == []
        six = await store.acquire_ip(ME, IpAcquire(network="small", family=6))
        assert six["address"] == "2001:db8::1"
        assert await _spans(store, "2001:db8::/126") == [
            (0x20010DB8 << 96 | 2, 0x20010DB8 << 96 | 3)
        ]  # no broadcast in v6
        statements.clear()
        with pytest.raises(AllocationError, match=r"\(size 6\) is exhausted"):
            await store.acquire_ip(ME, IpAcquire(network="small"))
        # A released address is the lowest free one again.
        await store.release_ip(ME, "192.0.2.4")
        assert (await store.acquire_ip(ME, IpAcquire(network="small")))["address"] == "192.0.2.4"
    finally:
        event.remove(store.db.engine.sync_engine, "before_cursor_execute", _count)


async def test_what_the_fast_path_cannot_do_gets_the_general_errors(store: Store) -> None:
    await store.create_network(
        ME,
        NetworkCreate(
            name="sup", partition="p", kind="super", prefixes=["10.64.0.0/16"], child_lengths={"4": 24}
        ),
    )
    with pytest.raises(ValidationError, match="super network"):
        await store.acquire_ip(ME, IpAcquire(network="sup"))
    with pytest.raises(Exception, match="nowhere"):
        await store.acquire_ip(ME, IpAcquire(network="nowhere"))
    await store.create_network(
        ME, NetworkCreate(name="v4only", partition="p", kind="external", prefixes=["198.51.100.0/30"])
    )
    with pytest.raises(ValidationError, match="no IPv6 prefix"):
        await store.acquire_ip(ME, IpAcquire(network="v4only", family=6))
