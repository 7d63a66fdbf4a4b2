"""TLS with a pinned CA, and the command line as an operator uses it: apply, list, token, status, backup."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from conftest import FABRIC, Server, fabric, start_server, stop_server

from fabric.adapters.api_client import ApiClient
from fabric.adapters.process import run, run_checked

FABRIC_YAML = """
partitions:
  - name: ams
    vni_range: {first: 200000, last: 200999}
    machine_asn_range: {first: 4220000000, last: 4220000999}
    switch_asn_range: {first: 4230000000, last: 4230000999}
    loopback_prefix: 10.9.0.0/24
projects:
  - name: shop
networks:
  - {name: ams-super, partition: ams, kind: super, prefixes: [10.64.0.0/16], child_lengths: {"4": 24}}
  - {name: shop-net, partition: ams, kind: private, parent: ams-super, project: shop}
switches:
  - {name: ams-leaf1, partition: ams, rack: r1, role: leaf, ports: [Ethernet0]}
machines:
  - {name: ams-m1, partition: ams, rack: r1, nics: [{name: lan0, mac: "bb:00:00:00:00:01"}]}
"""


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    run_checked(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=fabric-api",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ]
    )
    server = start_server(
        f"sqlite:///{d}/fabric.db",
        "sqlite",
        ["--tls-cert", str(cert), "--tls-key", str(key)],
        scheme="https",
        context=ssl.create_default_context(cafile=str(cert)),
    )
    try:
        yield server, cert
    finally:
        stop_server(server.pid)


async def test_tls_with_pinned_ca(tls_server: tuple[Server, Path]) -> None:
    server, cert = tls_server
    async with ApiClient(server.url, server.admin, ca=str(cert)) as api:
        assert await api.request("GET", "/v1/partitions") == []
    async with ApiClient(server.url, server.admin) as api:  # the system CAs do not know it
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await api.request("GET", "/v1/partitions")


def test_cli_apply_list_token_status_backup(server: Server, tmp_path: Path) -> None:
    spec = tmp_path / "fabric.yaml"
    spec.write_text(FABRIC_YAML)
    first = fabric(server, "apply", "-f", str(spec))
    assert first.ok, first.describe()
    assert "networks/shop-net: created" in first.stdout
    again = fabric(server, "apply", "-f", str(spec))
    assert again.ok and again.stdout.count(": unchanged") == 6, again.describe()
    nets = json.loads(fabric(server, "api", "list", "networks", "-o", "json").stdout)
    shop = next(n for n in nets if n["name"] == "shop-net")
    assert shop["vni"] == 200000 and shop["project"] == "shop"
    table = fabric(server, "api", "show", "networks", "shop-net")
    assert "10.64.0.0/24" in table.stdout
    ip = fabric(server, "api", "create", "ip", "network=shop-net", "-o", "json")
    assert json.loads(ip.stdout)["address"] == "10.64.0.1"
    bad = fabric(
        server,
        "api",
        "create",
        "network",
        "name=x",
        "partition=ams",
        "kind=external",
        "prefixes=[10.64.1.0/24]",
    )
    assert (
        bad.rc == 1 and "prefixes[0]: 10.64.1.0/24 overlaps 10.64.0.0/16 of network ams-super" in bad.stderr
    )
    created = json.loads(fabric(server, "token", "create", "project", "shop", "-o", "json").stdout)
    assert created["token"].startswith("fab_") and len(created["token"]) > 40
    listed = fabric(server, "token", "list", "-o", "json")
    assert created["id"] in listed.stdout and created["token"] not in listed.stdout
    assert fabric(server, "token", "revoke", created["id"]).ok
    status = fabric(server, "status", "-o", "json")
    assert status.rc == 3 and any(r["name"] == "ams-leaf1" and r["stale"] for r in json.loads(status.stdout))
    denied = run([FABRIC, "api", "list", "networks", "--url", server.url, "--token", created["token"]])
    assert denied.rc == 1 and "HTTP 401" in denied.stderr

    # Backup while serving, restore into a fresh store, and find the same allocation there.
    backup = tmp_path / "backup.sql"
    assert fabric(server, "api", "backup", "--db", server.db, str(backup)).ok
    target = _fresh_db(server, tmp_path)
    assert fabric(server, "api", "restore", "--db", target, str(backup)).ok
    restored = start_server(target, server.engine)
    try:
        env = {**os.environ, "FABRIC_URL": restored.url, "FABRIC_TOKEN": server.admin}
        shown = run([FABRIC, "api", "list", "ips", "-o", "json"], env=env)
        assert shown.ok and "10.64.0.1" in shown.stdout
    finally:
        stop_server(restored.pid)


def _fresh_db(server: Server, tmp_path: Path) -> str:
    if server.engine == "sqlite":
        return f"sqlite:///{tmp_path}/restored.db"
    url = server.db.replace("postgresql+asyncpg", "postgresql")
    base, _, query = url.partition("?")
    name = base.rsplit("/", 1)[1] + "_restored"
    host = dict(p.split("=") for p in query.split("&"))
    run_checked(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/15/bin/createdb",
            "-h",
            host["host"],
            "-p",
            host["port"],
            name,
        ]
    )
    return server.db.replace(base.rsplit("/", 1)[1] + "?", name + "?")
