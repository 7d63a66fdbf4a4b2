"""Who may do what: no token 401, a token out of scope 403, in scope 2xx — for every role."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from conftest import Server
from scenario import cable, declare, lldp_status

from fabric.adapters.api_client import ApiClient, ApiError
from lab.rig.wait import wait_until


def http_status(server: Server, token: str) -> int:
    request = urllib.request.Request(
        f"{server.url}/v1/partitions", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def status_of(api: ApiClient, method: str, path: str, body: Any = None) -> int:
    try:
        await api.request(method, path, body)
    except ApiError as exc:
        return exc.status
    return 200


async def test_authz_matrix(server: Server) -> None:
    async with ApiClient(server.url, server.admin) as api:
        await declare(api)
        await cable(api)
        await api.request("POST", "/v1/firewalls/fw1/allocate", {"networks": ["alpha-net", "internet"]})
        tokens = {"admin": server.admin}
        for role, subject in (
            ("project", "alpha"),
            ("project", "beta"),
            ("switch", "leaf01"),
            ("firewall", "fw1"),
        ):
            created = await api.request("POST", "/v1/tokens", {"role": role, "subject": subject})
            tokens[f"{role}:{subject}"] = created["token"]
        expired = await api.request("POST", "/v1/tokens", {"role": "admin", "expires_in": 1})
        revoked = await api.request("POST", "/v1/tokens", {"role": "admin"})
        await api.request("DELETE", f"/v1/tokens/{revoked['id']}")

    wait_until(lambda: http_status(server, expired["token"]) == 401, timeout=10, what="token expired")
    alloc = {"project": "alpha", "networks": ["alpha-net"]}
    status_body = lldp_status(0).model_dump(mode="json")
    # (method, path, body) -> expected status per principal
    matrix: list[tuple[str, str, Any, dict[str, int]]] = [
        ("GET", "/v1/partitions", None, {"admin": 200, "project:alpha": 403, "switch:leaf01": 403}),
        ("POST", "/v1/projects", {"name": "gamma"}, {"project:alpha": 403, "firewall:fw1": 403}),
        (
            "POST",
            "/v1/machines/m1/allocate",
            alloc,
            {"project:beta": 403, "switch:leaf01": 403, "project:alpha": 200},
        ),
        (
            "GET",
            "/v1/machines/m1/state",
            None,
            {"project:alpha": 200, "project:beta": 403, "switch:leaf01": 403},
        ),
        (
            "GET",
            "/v1/switches/leaf01/state",
            None,
            {"switch:leaf01": 200, "project:alpha": 403, "firewall:fw1": 403},
        ),
        ("GET", "/v1/switches/leaf02/state", None, {"switch:leaf01": 403, "admin": 200}),
        ("POST", "/v1/switches/leaf01/status", status_body, {"switch:leaf01": 200, "firewall:fw1": 403}),
        ("GET", "/v1/firewalls/fw1/state", None, {"firewall:fw1": 200, "switch:leaf01": 403}),
        (
            "POST",
            "/v1/ips",
            {"network": "internet", "project": "beta"},
            {"project:alpha": 403, "project:beta": 200},
        ),
        ("GET", "/v1/tokens", None, {"project:alpha": 403, "admin": 200}),
        ("POST", "/v1/machines/m1/free", None, {"project:beta": 403, "project:alpha": 200}),
    ]
    failures = []
    for method, path, body, expected in matrix:
        for who, want in expected.items():
            async with ApiClient(server.url, tokens[who]) as client:
                got = await status_of(client, method, path, body)
            if got != want:
                failures.append(f"{who} {method} {path}: {got}, want {want}")
        for secret in (None, "fab_not-a-token", expired["token"], revoked["token"]):
            async with ApiClient(server.url, secret) as client:
                got = await status_of(client, method, path, body)
            if got != 401:
                failures.append(f"token {str(secret)[:12]} {method} {path}: {got}, want 401")
    assert not failures, "\n".join(failures)
