"""A project's load-balancer IPs reach its firewall, over real HTTP on SQLite and on PostgreSQL.

An external IP the project holds without a machine (`POST /v1/ips {"network", "project"}`) is what its
machines may announce (a load-balancer address, e.g. MetalLB's).  The project's firewall leaks it from
the tenant VRF into the external network it belongs to, announced (not no-export), so the exit router
routes it in; releasing it takes it out again.  Another project's IPs never reach the firewall.
"""

from __future__ import annotations

from conftest import Server
from scenario import cable, declare
from test_api import admin

from fabric.adapters.api_client import ApiClient
from fabric.model import FirewallState


async def _internet_import(api: ApiClient) -> tuple[int, list[str], list[str]]:
    """fw1's revision, and the prefixes and announced prefixes its internet VRF imports."""
    doc = (await api.get_state("firewall", "fw1")).document
    assert isinstance(doc, FirewallState)
    internet = next(v for v in doc.vrfs if "203.0.113.0/24" in map(str, v.prefixes))
    (leak,) = internet.imports
    return doc.revision, [str(n) for n in leak.prefixes], [str(n) for n in leak.announced]


async def test_a_load_balancer_ip_is_leaked_and_announced(server: Server) -> None:
    async with admin(server) as api:
        await declare(api)
        await cable(api)
        await api.request(
            "POST", "/v1/firewalls/fw1/allocate", {"project": "alpha", "networks": ["alpha-net", "internet"]}
        )
        revision, prefixes, announced = await _internet_import(api)
        assert not any(p.startswith("203.0.113.") for p in prefixes)

        lb = await api.request("POST", "/v1/ips", {"network": "internet", "project": "alpha"})
        other = await api.request("POST", "/v1/ips", {"network": "internet", "project": "beta"})
        after, prefixes, announced = await _internet_import(api)
        assert after > revision
        assert f"{lb['address']}/32" in prefixes and f"{lb['address']}/32" in announced
        assert f"{other['address']}/32" not in prefixes

        await api.request("DELETE", f"/v1/ips/{lb['address']}")
        released, prefixes, _ = await _internet_import(api)
        assert released > after and f"{lb['address']}/32" not in prefixes
