"""The API over real HTTP on both engines: one private PostgreSQL per session, one `fabric api serve`
per module and engine (parametrised), stopped by PID."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric.adapters.process import Result, run, spawn

sys.path.insert(0, str(Path(__file__).parent))
import pg

from lab.rig.ports import free_port
from lab.rig.wait import wait_until

FABRIC = shutil.which("fabric", path=str(Path(sys.executable).parent)) or "fabric"
CI = os.environ.get("CI") == "true"


@dataclass
class Server:
    """A running `fabric api serve`."""

    url: str
    db: str
    admin: str
    engine: str
    log: Path
    pid: int


def send(
    server: Server, method: str, path: str, body: bytes | None = None, token: str | None = None
) -> tuple[int, dict, dict]:
    """One raw HTTP request (the admin's token unless `token`): status, headers and the JSON answer."""
    headers = {"Authorization": f"Bearer {token or server.admin}", "Content-Type": "application/json"}
    asked = urllib.request.Request(f"{server.url}{path}", data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(asked, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def fabric(server: Server, *args: str) -> Result:
    """The `fabric` CLI as the operator runs it against `server` (admin token)."""
    env = {**os.environ, "FABRIC_URL": server.url, "FABRIC_TOKEN": server.admin}
    return run([FABRIC, *args], env=env, timeout=60)


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg.PgInstance]:
    why = pg.available()
    if why is not None:
        if CI:
            pytest.fail(f"PostgreSQL is required in CI: {why}")
        pytest.skip(why)
    instance = pg.start()
    try:
        yield instance
    finally:
        instance.stop()


def wait_healthy(url: str, pid: int, log: Path, timeout: float = 30.0, context: object = None) -> None:
    """Poll /healthz until the server answers (or has died)."""

    def healthy() -> bool:
        os.kill(pid, 0)  # ProcessLookupError ends the wait early with the log below
        with urllib.request.urlopen(f"{url}/healthz", timeout=1, context=context) as r:
            return bool(r.status == 200)

    try:
        wait_until(healthy, timeout=timeout, interval=0.05, what="fabric api /healthz", retry_on=(OSError,))
    except (AssertionError, ProcessLookupError):
        raise RuntimeError(f"fabric api did not become healthy: {log.read_text()[-3000:]}") from None


def start_server(
    db: str, engine: str, extra: list[str] | None = None, scheme: str = "http", context: object = None
) -> Server:
    admin = "fab_" + secrets.token_urlsafe(32)
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="fabric-api-", suffix=".log")[1])
    env = {**os.environ, "FABRIC_ADMIN_TOKEN": admin}
    proc = spawn(
        [FABRIC, "api", "serve", "--db", db, "--listen", f"127.0.0.1:{port}", *(extra or [])],
        env=env,
        stdout_path=str(log),
    )
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc.pid, log, context=context)
    except RuntimeError:
        stop_server(proc.pid)
        raise
    return Server(url, db, admin, engine, log, proc.pid)


def stop_server(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path_factory.mktemp('store')}/fabric.db"
    else:
        instance = request.getfixturevalue("postgres")
        db = instance.createdb(f"t_{secrets.token_hex(4)}")
    srv = start_server(db, request.param)
    try:
        yield srv
    finally:
        stop_server(srv.pid)
