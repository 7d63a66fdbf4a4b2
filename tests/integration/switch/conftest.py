"""Fixtures: one real Redis and one real FRR (in a throwaway namespace) per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from switch_helpers import CONFIG_DB

from fabric.adapters.configdb import SonicDb
from fabric.adapters.sonicdb import DbLayout
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
