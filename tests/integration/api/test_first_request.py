"""The very first request after `fabric api serve` starts is answered like any other, on both engines
(start-up work on another event loop must leave no connection behind for the server's loop)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import urllib.request
from pathlib import Path

import pytest
from conftest import FABRIC, stop_server

from fabric.adapters.process import spawn
from lab.rig.ports import free_port
from lab.rig.wait import wait_until


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _listening(port: int) -> None:
    """Wait until the port accepts TCP (no HTTP request: the first one is the test's)."""
    wait_until(lambda: _accepts(port), timeout=60, interval=0.05, what=f"the API listening on {port}")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
@pytest.mark.parametrize("first", ["/healthz", "/v1/partitions"])
def test_the_first_request_is_answered(
    engine: str, first: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if engine == "sqlite":
        db = f"sqlite:///{tmp_path}/fabric.db"
    else:
        db = request.getfixturevalue("postgres").createdb(f"t_{secrets.token_hex(4)}")
    admin = "fab_" + secrets.token_urlsafe(32)
    port = free_port()
    log = tmp_path / "api.log"
    proc = spawn(
        [FABRIC, "api", "serve", "--db", db, "--listen", f"127.0.0.1:{port}"],
        env={**os.environ, "FABRIC_ADMIN_TOKEN": admin},
        stdout_path=str(log),
    )
    try:
        _listening(port)
        asked = urllib.request.Request(
            f"http://127.0.0.1:{port}{first}", headers={"Authorization": f"Bearer {admin}"}
        )
        with urllib.request.urlopen(asked, timeout=30) as answer:
            assert answer.status == 200, log.read_text()
            json.loads(answer.read())
    finally:
        stop_server(proc.pid)
    assert "Traceback" not in log.read_text(), log.read_text()
