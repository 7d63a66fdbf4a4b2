"""Two `fabric api serve` replicas on one PostgreSQL: a watcher parked on replica A is answered when a
change commits through replica B (LISTEN/NOTIFY), not at its timeout."""

from __future__ import annotations

import asyncio
import secrets
import urllib.request
from collections.abc import Iterator

import pg
import pytest
from conftest import Server, start_server, stop_server

from fabric.adapters.api_client import ApiClient
from fabric.model.status import PortStatus, SwitchStatus, SyncResult
from lab.rig.wait import wait_until

WAIT = 120  # the watch's own timeout: far beyond the poll below, so only a NOTIFY can answer in time


@pytest.fixture(scope="module")
def replicas(postgres: pg.PgInstance) -> Iterator[tuple[Server, Server]]:
    db = postgres.createdb(f"r_{secrets.token_hex(4)}")
    a = start_server(db, "postgresql")
    try:
        b = start_server(db, "postgresql")  # the schema is migrated already: B only opens it
        try:
            yield a, b
        finally:
            stop_server(b.pid)
    finally:
        stop_server(a.pid)


def parked(server: Server) -> float:
    """The replica's `fabric_api_watchers` gauge (long-polls parked on a document)."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("fabric_api_watchers "):
                return float(line.split()[1])
    return 0.0


async def test_watcher_on_replica_a_wakes_on_a_commit_through_replica_b(
    replicas: tuple[Server, Server],
) -> None:
    a, b = replicas
    async with ApiClient(a.url, a.admin, timeout=30) as on_a, ApiClient(b.url, b.admin, timeout=30) as on_b:
        await on_b.request(
            "POST",
            "/v1/partitions",
            {
                "name": "rep",
                "vni_range": {"first": 10, "last": 20},
                "machine_asn_range": {"first": 65000, "last": 65010},
                "switch_asn_range": {"first": 64512, "last": 64520},
                "loopback_prefix": "10.250.0.0/24",
            },
        )
        await on_b.request(
            "POST", "/v1/switches", {"name": "rleaf", "partition": "rep", "rack": "r1", "role": "leaf"}
        )
        first = await on_a.get_state("switch", "rleaf")  # A sees what B committed
        assert first.document is not None and first.revision is not None
        watch = asyncio.create_task(on_a.watch_state("switch", "rleaf", since=first.revision, wait=WAIT))
        await asyncio.to_thread(
            wait_until, lambda: parked(a) >= 1, timeout=30, interval=0.05, what="watcher parked on replica A"
        )
        # Through B: the switch reports a port, which adds it to rleaf's document (a new revision).
        report = SwitchStatus(
            name="rleaf",
            sync=SyncResult(applied_revision=first.revision),
            ports=[PortStatus(name="Ethernet0", oper="up")],
        )
        await on_b.post_status("switch", "rleaf", report)
        # Poll for the answer with a generous bound; a missed NOTIFY would leave it parked for WAIT s.
        woke = await asyncio.wait_for(watch, timeout=WAIT / 2)
        assert woke.document is not None and woke.revision == first.revision + 1
        assert woke.document.port("Ethernet0") is not None  # type: ignore[attr-defined]
