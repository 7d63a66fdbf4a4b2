"""64 concurrent allocations over HTTP on one prefix and one pool: no duplicate, no leak, all or nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import Server

from fabric.adapters.api_client import ApiClient, ApiError

N = 64


async def gather(calls: list[Any]) -> tuple[list[Any], list[ApiError]]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, ApiError)]
    assert not unexpected, unexpected[:3]
    return [r for r in results if not isinstance(r, BaseException)], [
        r for r in results if isinstance(r, ApiError)
    ]


async def test_64_concurrent_ip_acquires_on_one_prefix(server: Server) -> None:
    async with ApiClient(server.url, server.admin, timeout=120) as api:
        await api.request(
            "POST",
            "/v1/partitions",
            {
                "name": "race",
                "vni_range": {"first": 1000, "last": 1099},
                "machine_asn_range": {"first": 65000, "last": 65100},
                "switch_asn_range": {"first": 64512, "last": 64600},
                "loopback_prefix": "10.255.0.0/24",
            },
        )
        await api.request(
            "POST",
            "/v1/networks",
            {"name": "lb", "partition": "race", "kind": "external", "prefixes": ["192.0.2.0/26"]},
        )
        ok, failed = await gather([api.request("POST", "/v1/ips", {"network": "lb"}) for _ in range(N)])
        addresses = [r["address"] for r in ok]
        assert len(addresses) == 62 and len(set(addresses)) == 62  # a /26 has 62 host addresses
        assert len(failed) == 2 and all(
            e.status == 409 and "(size 62) is exhausted" in e.detail for e in failed
        )
        shown = await api.request("GET", "/v1/networks/lb")
        assert shown["prefixes"][0]["free"] == "0"
        _, failed = await gather([api.request("DELETE", f"/v1/ips/{a}") for a in addresses])
        assert not failed
        shown = await api.request("GET", "/v1/networks/lb")
        assert shown["prefixes"][0]["free"] == "62"  # nothing leaked


async def test_64_concurrent_networks_on_one_vni_pool_and_one_super_prefix(server: Server) -> None:
    async with ApiClient(server.url, server.admin, timeout=120) as api:
        await api.request("POST", "/v1/projects", {"name": "racers"})
        await api.request(
            "POST",
            "/v1/networks",
            {
                "name": "race-super",
                "partition": "race",
                "kind": "super",
                "prefixes": ["10.200.0.0/24"],
                "child_lengths": {"4": 28},
            },
        )
        body = {"partition": "race", "kind": "private", "parent": "race-super", "project": "racers"}
        ok, failed = await gather(
            [api.request("POST", "/v1/networks", {**body, "name": f"n{i}"}) for i in range(N)]
        )
        # 16 children of /28 fit in the /24; every other intent took a VNI and then failed: all undone.
        assert len(ok) == 16 and len(failed) == N - 16
        assert all(e.status == 409 and e.field == "network/race-super/10.200.0.0/24" for e in failed)
        vnis = sorted(r["vni"] for r in ok)
        prefixes = {r["prefixes"][0] for r in ok}
        assert vnis == list(range(1001, 1017)) and len(prefixes) == 16  # 1000 is the lb network's
        nets = [n["name"] for n in await api.request("GET", "/v1/networks", partition="race")]
        assert len(nets) == 2 + 16
        ext = await api.request(
            "POST",
            "/v1/networks",
            {"name": "after", "partition": "race", "kind": "external", "prefixes": ["192.0.2.64/26"]},
        )
        assert ext["vni"] == 1017  # the failed intents' VNIs went back: no leak
