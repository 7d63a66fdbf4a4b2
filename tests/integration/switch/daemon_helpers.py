"""Helpers of the end-to-end tests: a real `fabric api` on SQLite, a leaf's base CONFIG_DB and cabling,
`fabric switch run` as a subprocess, and polling of CONFIG_DB, FRR and the API's fleet view.

The API server comes from tests/integration/api's helpers (`start_server`/`stop_server`), loaded by
path because both directories have a conftest.py.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import redis
import yaml
from switch_helpers import frr_config, write_tables

from fabric.adapters.api_client import ApiClient
from fabric.adapters.process import spawn
from fabric.core.tables import Tables
from lab.rig import FrrInstance, RedisInstance

API_DIR = Path(__file__).parents[1] / "api"
FABRIC = shutil.which("fabric", path=str(Path(sys.executable).parent)) or "fabric"
LEAF = "leaf01"
PORTS = ("Ethernet0", "Ethernet4", "Ethernet8", "Ethernet120")
T = TypeVar("T")


def api_helpers() -> Any:
    """tests/integration/api/conftest.py as a module (start_server, stop_server, Server)."""
    sys.path.insert(0, str(API_DIR))
    spec = importlib.util.spec_from_file_location("api_conftest_for_switch", API_DIR / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def scenario() -> Any:
    """tests/integration/api/scenario.py: the declared fabric (partition, leaves, machines)."""
    sys.path.insert(0, str(API_DIR))
    import scenario as module

    return module


def base_tables(pxe_vlan: int) -> Tables:
    """The CONFIG_DB of a freshly installed leaf: ports, loopback, VTEP, split mode, the PXE VLAN."""
    return {
        "VXLAN_TUNNEL": {"vtep": {"src_ip": "10.0.0.11"}},
        "VXLAN_EVPN_NVO": {"nvo": {"source_vtep": "vtep"}},
        "LOOPBACK_INTERFACE": {"Loopback0": {}, "Loopback0|10.0.0.11/32": {}},
        "VLAN": {f"Vlan{pxe_vlan}": {"vlanid": str(pxe_vlan)}},
        "VLAN_MEMBER": {f"Vlan{pxe_vlan}|{p}": {"tagging_mode": "untagged"} for p in PORTS[:3]},
        "PORT": {p: {"admin_status": "up", "mtu": "9100", "lanes": str(i)} for i, p in enumerate(PORTS)},
        "DEVICE_METADATA": {"localhost": {"docker_routing_config_mode": "split", "hostname": LEAF}},
    }


def cable(server: RedisInstance) -> None:
    """APPL_DB as lldpd/lldp_syncd fill it: m1, fw1 and lonely on Ethernet0/4/8, spine01 on Ethernet120."""
    appl = server.client(0)
    heard = {
        "Ethernet0": ("", "aa:00:00:00:01:00"),
        "Ethernet4": ("", "aa:00:00:00:02:00"),
        "Ethernet8": ("", "aa:00:00:00:03:00"),
        "Ethernet120": ("spine01", "Ethernet0"),
    }
    for port, (name, port_id) in heard.items():
        appl.hset(
            f"LLDP_ENTRY_TABLE:{port}",
            mapping={"lldp_rem_sys_name": name, "lldp_rem_port_id": port_id, "lldp_rem_chassis_id": ""},
        )
        appl.hset(f"PORT_TABLE:{port}", mapping={"oper_status": "up"})


def prepare_switch(server: RedisInstance, config_db: redis.Redis, pxe_vlan: int) -> None:
    """Flush every database, load the base CONFIG_DB and the cabling."""
    config_db.flushall()
    write_tables(config_db, base_tables(pxe_vlan))
    cable(server)


def write_config(
    path: Path, *, url: str, token: Path, server: RedisInstance, instance: FrrInstance, **over: Any
) -> Path:
    """A daemon configuration file with short periods (the test's clock is the daemon's)."""
    frr_cfg = frr_config(instance).model_dump(mode="json")
    cfg: dict[str, Any] = {
        "name": LEAF,
        "api": {"url": url, "token_file": str(token), "watch_wait": 5},
        "sonic": {"database_config": None, "unix_socket": str(server.socket_path)},
        "frr": frr_cfg,
        "guard": {"max_port_share": 0.5, "max_vrf_share": 0.5, "min_ports": 1, "min_vrfs": 1},
        "resync_period": 30,
        "sync_deadline": 30,
        "heartbeat": 1,
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
        "log_format": "json",
    }
    for key, value in over.items():  # sections are merged, other values replaced
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and key in cfg else value
    path.write_text(yaml.safe_dump(cfg))
    return path


class DaemonProcess:
    """`fabric switch run --config FILE` as a subprocess, killed by its PID."""

    def __init__(self, config: Path, log: Path, *args: str) -> None:
        self.config, self.log, self.args = config, log, args
        self.pid: int | None = None
        self._proc: Any = None

    def start(self) -> DaemonProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FABRIC_SWITCH_")}
        self._proc = spawn(
            [FABRIC, "switch", "run", "--config", str(self.config), *self.args],
            env=env,
            stdout_path=str(self.log),
        )
        self.pid = self._proc.pid
        return self

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` and reap the process (SIGKILL after 10 s)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            os.kill(self._proc.pid, sig)
            try:
                self._proc.wait(timeout=10)
            except Exception:
                os.kill(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
        self._proc = None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        except OSError:
            return ""


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 30.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` and the last value seen."""
    last: Any = None
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        async with asyncio.timeout(max(end - loop.time(), 0.1)):
            last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)  # the poll interval of this wait: it polls `probe`, never sleeps blind
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


async def fleet_row(api: ApiClient, name: str = LEAF) -> dict[str, Any]:
    """This switch's row of ``GET /v1/status`` (desired vs applied revision, last error)."""
    rows = await api.request("GET", "/v1/status")
    return next(r for r in rows if r["name"] == name and r["kind"] == "switch")


async def desired_revision(api: ApiClient) -> int:
    fetched = await api.get_state("switch", LEAF)
    assert fetched.document is not None
    return fetched.document.revision


async def wait_applied(api: ApiClient, timeout: float = 30.0) -> dict[str, Any]:
    """Until the switch reports the latest desired revision applied (no error, no drift)."""

    async def probe() -> dict[str, Any] | None:
        row = await fleet_row(api)
        done = row["applied_revision"] == row["desired_revision"] and not row["last_error"]
        return row if done and not row["outdated"] else None

    return await eventually(probe, "the switch to report the desired revision applied", timeout)


async def wait_error(api: ApiClient, phase: str, timeout: float = 30.0) -> dict[str, Any]:
    """Until the switch reports a failure in `phase`."""

    async def probe() -> dict[str, Any] | None:
        row = await fleet_row(api)
        return row if row["last_error"].startswith(phase) else None

    return await eventually(probe, f"the switch to report a failure in {phase}", timeout)
