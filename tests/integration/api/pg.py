"""A private PostgreSQL instance for one test session or benchmark run.

initdb into a temporary directory as the `postgres` user, listen only on a unix socket in that
directory (with a port number of our own, so the socket name never collides with another run), and stop
it by the PID recorded in postmaster.pid.  Used by tests/integration/api/conftest.py and bench/.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fabric.adapters.process import run, run_checked
from lab.rig.wait import wait_until

BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class PgInstance:
    """A running private server: `url(db)` gives an async SQLAlchemy URL of one database on it."""

    root: Path
    port: int
    pid: int

    def url(self, db: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@/{db}?host={self.root}&port={self.port}"

    def createdb(self, name: str) -> str:
        run_checked(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(BIN / "createdb"),
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                name,
            ],
            phase="createdb",
        )
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)  # fast shutdown
        wait_until(
            lambda: not _alive(self.pid), timeout=30, interval=0.05, what=f"postgres {self.pid} stopped"
        )
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def available() -> str | None:
    """Why a private instance cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (to run initdb as the postgres user)"
    if not (BIN / "initdb").exists():
        return f"{BIN}/initdb missing (Debian package postgresql)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    return None


def start(fsync: bool = False) -> PgInstance:
    """initdb and start a server; `fsync=False` for tests (speed), True for benchmarks (durability)."""
    root = Path(tempfile.mkdtemp(prefix="fabric-pg-"))
    os.chmod(root, 0o755)
    shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    as_pg = ["runuser", "-u", "postgres", "--"]
    run_checked(
        [*as_pg, str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        phase="initdb",
        timeout=120,
    )
    port = random.randint(20000, 60000)
    options = f"-k {root} -p {port} -c listen_addresses='' -c max_connections=300"
    options += f" -c fsync={'on' if fsync else 'off'}"
    result = run(
        [*as_pg, str(BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        timeout=60,
    )
    if not result.ok:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"postgres did not start: {result.describe()} {log[-2000:]}")
    pid = int((data / "postmaster.pid").read_text().split()[0])
    return PgInstance(root, port, pid)
