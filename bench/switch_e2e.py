"""A 64-VRF leaf end to end: API commit → CONFIG_DB written + FRR reloaded → the switch reports applied.

Real parts: `fabric api serve` on SQLite (a subprocess), a rig redis-server as CONFIG_DB/STATE_DB/APPL_DB,
FRR 8.4 in a rig namespace, the daemon's own loop (`fabric.switch.daemon.build_loop`, what
`fabric switch run` runs) in this process so that the moment it reports can be timed exactly.  SONiC's
managers cannot run here: the tests' STATE_DB filler (tests/integration/switch/switch_helpers.py)
stands in for them, mirroring CONFIG_DB keys into STATE_DB every 20 ms, so waits on STATE_DB include
up to 20 ms of that stand-in.

The leaf: 64 machine ports plus an uplink; 63 machines allocated to 63 projects (63 VRFs) before the
daemon starts.  One change = allocating the 64th machine (a 64th VRF) or freeing it again.  Measured:

1. one such change, where the time goes (commit, watch delivery, each sync phase, the status report;
   a phase's FRR step shows as `<phase>:frr-fast` (the delta path) or `<phase>:frr-reload` (the
   frr-reload.py fallback), and every FRR subprocess is timed by kind);
2. API commit → applied over `COMMITS` changes, p50/p99, for the daemon with its long-poll watch and for
   the same daemon driven by a 10-second polling source (metal-core's design), side by side
   (``BENCH_SWITCH_POLLING=0`` skips the polling run, which takes a few minutes).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "api"))
sys.path.insert(0, str(ROOT / "tests" / "integration" / "switch"))

VRFS = 64
COMMITS = 20
POLL_PERIOD = 10.0
LEAF = "leaf01"
UPLINK = f"Ethernet{4 * VRFS}"


def mac(i: int, nic: int = 0) -> str:
    return f"aa:00:00:{i // 256:02x}:{i % 256:02x}:{nic:02x}"


async def declare(api: Any) -> None:
    """A partition, 64 projects with a private network each, the leaf with 65 ports, 64 machines."""
    from scenario import NETWORKS, PARTITION

    await api.request("POST", "/v1/partitions", PARTITION)
    for net in NETWORKS[:3]:  # tenants, internet, underlay
        await api.request("POST", "/v1/networks", net)
    ports = [f"Ethernet{4 * i}" for i in range(VRFS)] + [UPLINK]
    for leaf in (LEAF, "leaf02"):  # machines are dual-attached to the two leaves of their rack
        switch = {"name": leaf, "partition": "fra", "rack": "r1", "role": "leaf", "ports": ports}
        await api.request("POST", "/v1/switches", switch)
    await api.request(
        "POST", "/v1/switches", {"name": "spine01", "partition": "fra", "rack": "r0", "role": "spine"}
    )
    for i in range(VRFS):
        await api.request("POST", "/v1/projects", {"name": f"p{i}"})
        net = {
            "name": f"net{i}",
            "partition": "fra",
            "kind": "private",
            "parent": "tenants",
            "project": f"p{i}",
        }
        await api.request("POST", "/v1/networks", net)
        nics = [{"name": "lan0", "mac": mac(i)}, {"name": "lan1", "mac": mac(i, 1)}]
        await api.request(
            "POST", "/v1/machines", {"name": f"m{i}", "partition": "fra", "rack": "r1", "nics": nics}
        )


def base_tables(pxe_vlan: int) -> dict[str, dict[str, dict[str, str]]]:
    """A freshly installed 65-port leaf's CONFIG_DB (ports, loopback, VTEP, split mode, PXE VLAN)."""
    ports = [f"Ethernet{4 * i}" for i in range(VRFS)] + [UPLINK]
    return {
        "VXLAN_TUNNEL": {"vtep": {"src_ip": "10.0.0.11"}},
        "VXLAN_EVPN_NVO": {"nvo": {"source_vtep": "vtep"}},
        "LOOPBACK_INTERFACE": {"Loopback0": {}, "Loopback0|10.0.0.11/32": {}},
        "VLAN": {f"Vlan{pxe_vlan}": {"vlanid": str(pxe_vlan)}},
        "PORT": {p: {"admin_status": "up", "mtu": "9100", "lanes": str(i)} for i, p in enumerate(ports)},
        "DEVICE_METADATA": {"localhost": {"docker_routing_config_mode": "split", "hostname": LEAF}},
    }


def cable(server: Any) -> None:
    """APPL_DB as lldp_syncd fills it: machine i on Ethernet{4i}, the spine on the uplink."""
    appl = server.client(0)
    for i in range(VRFS):
        fields = {"lldp_rem_sys_name": "", "lldp_rem_port_id": mac(i), "lldp_rem_chassis_id": ""}
        appl.hset(f"LLDP_ENTRY_TABLE:Ethernet{4 * i}", mapping=fields)
    uplink = {"lldp_rem_sys_name": "spine01", "lldp_rem_port_id": "Ethernet0", "lldp_rem_chassis_id": ""}
    appl.hset(f"LLDP_ENTRY_TABLE:{UPLINK}", mapping=uplink)


@dataclass
class Clock:
    """When the source delivered each revision and when the sink reported each applied revision."""

    delivered: dict[int, float] = field(default_factory=dict)
    applied: dict[int, float] = field(default_factory=dict)
    report_seconds: dict[int, float] = field(default_factory=dict)
    observe_seconds: dict[int, float] = field(default_factory=dict)
    events: dict[int, asyncio.Event] = field(default_factory=dict)

    def wait_for(self, revision: int) -> asyncio.Event:
        return self.events.setdefault(revision, asyncio.Event())


class TimedSource:
    """The daemon's API source, noting when each revision arrives (long-poll, or polling every `period`)."""

    def __init__(self, inner: Any, clock: Clock, period: float | None = None) -> None:
        self.inner, self.clock, self.period = inner, clock, period
        self.last_poll = 0.0

    def _note(self, desired: Any) -> Any:
        if desired is not None:
            self.clock.delivered.setdefault(desired.revision, time.perf_counter())
        return desired

    async def get(self) -> Any:
        self.last_poll = time.perf_counter()
        return self._note(await self.inner.get())

    async def watch(self, since: int, wait: float) -> Any:
        if self.period is None:
            return self._note(await self.inner.watch(since, wait))
        # metal-core's way: fetch the whole document every `period` seconds, whatever happened.
        await asyncio.sleep(max(self.last_poll + self.period - time.perf_counter(), 0))
        desired = await self.get()
        return desired if desired.revision > since else None


class TimedSink:
    """The daemon's API sink, noting when a report carrying an applied revision has been accepted."""

    def __init__(self, inner: Any, clock: Clock) -> None:
        self.inner, self.clock = inner, clock

    async def report(self, status: Any) -> None:
        start = time.perf_counter()
        await self.inner.report(status)
        sync = status.sync
        if sync.ok and not sync.paused and sync.applied_revision not in self.clock.applied:
            self.clock.applied[sync.applied_revision] = time.perf_counter()
            self.clock.report_seconds[sync.applied_revision] = time.perf_counter() - start
            self.clock.wait_for(sync.applied_revision).set()


def timed_observe(observe: Any, clock: Clock) -> Any:
    """The loop's status observer (ports, LLDP, BGP sessions), timed per applied revision."""

    async def run(result: Any) -> Any:
        start = time.perf_counter()
        status = await observe(result)
        clock.observe_seconds.setdefault(result.applied_revision, time.perf_counter() - start)
        return status

    return run


def step_of(argv: list[str]) -> str:
    """Which FRR step a subprocess is, from its argv (for the breakdown)."""
    for marker, name in (
        ("/dev/stdin", "vtysh -f /dev/stdin (the delta)"),
        ("show running-config", "vtysh show running-config"),
        ("--reload", "frr-reload.py --reload"),
        ("--test", "frr-reload.py --test"),
        ("-C", "vtysh -C -f (syntax)"),
        ("tee", "write a file (tee)"),
        ("cat", "read a file / pid files (cat)"),
        ("show version", "vtysh show version"),
    ):
        if marker in argv:
            return name
    return "other vtysh (status)"


def time_frr_steps(frr: Any, steps: dict[str, list[float]]) -> None:
    """Wrap the FRR adapter's one subprocess entry point to time each step by kind."""
    inner = frr._run

    def run(argv: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(argv, **kw)
        finally:
            steps.setdefault(step_of(list(argv)), []).append(time.perf_counter() - start)

    frr._run = run


@dataclass
class Sample:
    total: float
    commit: float
    delivery: float
    sync: float
    report: float
    observe: float
    phases: list[tuple[str, float]]


async def change(api: Any, loop: Any, clock: Clock, step: int) -> Sample:
    """Allocate (even step) or free (odd step) the 64th machine; time it until the switch reports it."""
    last = f"m{VRFS - 1}"
    body = {"project": f"p{VRFS - 1}", "networks": [f"net{VRFS - 1}"]}
    start = time.perf_counter()
    if step % 2 == 0:
        await api.request("POST", f"/v1/machines/{last}/allocate", body)
    else:
        await api.request("POST", f"/v1/machines/{last}/free")
    committed = time.perf_counter()
    revision = (await api.get_state("switch", LEAF)).document.revision
    async with asyncio.timeout(120):
        await clock.wait_for(revision).wait()
    done = clock.applied[revision]
    result = loop.last
    phases = [(p.phase, p.seconds) for p in result.phases]
    delivered = clock.delivered.get(revision, committed)
    report, observe = clock.report_seconds[revision], clock.observe_seconds.get(revision, 0.0)
    sync = done - report - observe - delivered
    return Sample(done - start, committed - start, delivered - committed, sync, report, observe, phases)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def measure(
    server: Any, rig: Any, period: float | None, pause: tuple[float, float], steps: dict[str, list[float]]
) -> list[Sample]:
    """Run a daemon (long-poll, or polling every `period` s) on the leaf; time `COMMITS` changes."""
    from switch_helpers import frr_config, state_filler

    from fabric.adapters.api_client import ApiClient
    from fabric.runtime.loop import cancel
    from fabric.switch.config import SwitchConfig
    from fabric.switch.daemon import build_loop
    from fabric.switch.planner import load_planner
    from fabric.switch.sources import ApiSink, ApiSource

    redis_server, frr, token = rig
    cfg = SwitchConfig.model_validate(
        {
            "name": LEAF,
            "api": {"url": server.url, "watch_wait": 30},
            "sonic": {"database_config": None, "unix_socket": str(redis_server.socket_path)},
            "frr": frr_config(frr).model_dump(mode="json"),
            "guard": {"max_port_share": 1.0, "max_vrf_share": 1.0},
            "sync_deadline": 60,
            "heartbeat": 30,
        }
    )
    clock = Clock()
    samples: list[Sample] = []
    rng = random.Random(5)
    async with ApiClient(server.url, token) as switch_api, ApiClient(server.url, server.admin) as api:
        source = TimedSource(ApiSource(switch_api, LEAF), clock, period)
        loop, db = build_loop(cfg, source, TimedSink(ApiSink(switch_api), clock), load_planner("kernel"))
        loop.observe = timed_observe(loop.observe, clock)
        time_frr_steps(loop.syncer.frr, steps)
        async with state_filler(redis_server):
            task = asyncio.get_running_loop().create_task(loop.run())
            try:
                first = (await api.get_state("switch", LEAF)).document.revision
                started = time.perf_counter()
                async with asyncio.timeout(300):
                    await clock.wait_for(first).wait()
                print(f"   initial sync of the leaf ({VRFS - 1} VRFs): {time.perf_counter() - started:.2f} s")
                steps.clear()  # the FRR breakdown is of the changes only, not of the initial sync
                for step in range(COMMITS):
                    await asyncio.sleep(rng.uniform(*pause))  # commits land anywhere in a polling cycle
                    samples.append(await change(api, loop, clock, step))
            finally:
                await cancel(task)
                await db.close()
    return samples


def show(name: str, samples: list[Sample]) -> tuple[float, float]:
    totals = [s.total for s in samples]
    p50, p99 = statistics.median(totals), quantile(totals, 0.99)
    print(
        f"   {name}: commit -> applied over {len(samples)} one-VRF changes: p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms (min {min(totals) * 1000:.0f}, max {max(totals) * 1000:.0f})"
    )
    return p50, p99


def breakdown(samples: list[Sample]) -> None:
    """Medians of each part of the long-poll daemon's changes."""

    def med(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:7.1f} ms"

    print("   where the time goes (medians):")
    print(f"     API commit (request -> response)      {med([s.commit for s in samples])}")
    print(f"     watch delivery (response -> daemon)   {med([s.delivery for s in samples])}")
    print(f"     sync (observe, plan, apply, verify)   {med([s.sync for s in samples])}")
    names = sorted({n for s in samples for n, _ in s.phases})
    for name in names:
        values = [sec for s in samples for n, sec in s.phases if n == name]
        print(f"       phase {name:<30} {med(values)}  (in {len(values)} of {len(samples)} changes)")
    # `<phase>:frr-<path>` entries are the FRR step inside their phase: counted once, in the phase.
    planned = [s.sync - sum(sec for n, sec in s.phases if ":frr-" not in n) for s in samples]
    print(f"       read CONFIG_DB + FRR, check, plan    {med(planned)}")
    print(f"     status: ports, LLDP, BGP sessions     {med([s.observe for s in samples])}")
    print(f"     status report (POST)                  {med([s.report for s in samples])}")
    print(f"     total                                 {med([s.total for s in samples])}")


async def prepare(server: Any, redis_server: Any) -> str:
    """Declare the fabric, cable the leaf, allocate 63 machines; the leaf's base CONFIG_DB; its token."""
    from switch_helpers import write_tables

    from fabric.adapters.api_client import ApiClient
    from fabric.model.status import LldpNeighbour, SwitchStatus, SyncResult

    async with ApiClient(server.url, server.admin, timeout=120) as api:
        await declare(api)
        for n, leaf in enumerate((LEAF, "leaf02")):
            heard = [LldpNeighbour(port=f"Ethernet{4 * i}", port_id=mac(i, n)) for i in range(VRFS)]
            heard.append(LldpNeighbour(port=UPLINK, sys_name="spine01", port_id=f"Ethernet{4 * n}"))
            status = SwitchStatus(name=leaf, sync=SyncResult(applied_revision=0), lldp=heard)
            await api.post_status("switch", leaf, status)
        for i in range(VRFS - 1):
            await api.request(
                "POST", f"/v1/machines/m{i}/allocate", {"project": f"p{i}", "networks": [f"net{i}"]}
            )
        token = (await api.request("POST", "/v1/tokens", {"role": "switch", "subject": LEAF}))["token"]
        state = (await api.get_state("switch", LEAF)).document
    config_db = redis_server.client(4)
    config_db.flushall()
    write_tables(config_db, base_tables(state.pxe_vlan))
    cable(redis_server)
    return str(token)


def main() -> None:
    from daemon_helpers import api_helpers  # tests/integration/api/conftest.py, loaded by path

    from lab.rig import Rig

    start_server, stop_server = api_helpers().start_server, api_helpers().stop_server

    server = start_server(f"sqlite:///{tempfile.mkdtemp(prefix='fabric-bench-')}/switch.db", "sqlite")
    try:
        with Rig() as rig:
            redis_server = rig.redis("bench-sw")
            frr = rig.frr(rig.netns("bsw"), LEAF)
            token = asyncio.run(prepare(server, redis_server))
            print(
                f"-- a {VRFS}-VRF leaf end to end: real fabric api (SQLite), Redis, FRR 8.4; "
                "STATE_DB filled by the tests' stand-in for SONiC's managers"
            )
            steps: dict[str, list[float]] = {}
            ours = asyncio.run(measure(server, (redis_server, frr, token), None, (0.0, 0.2), steps))
            breakdown(ours)
            print("   FRR subprocesses during these changes (count, median, sum per change):")
            for name, values in sorted(steps.items(), key=lambda kv: -sum(kv[1])):
                print(
                    f"     {name:<32} {len(values):4d}  {statistics.median(values) * 1000:7.1f} ms  "
                    f"{sum(values) / COMMITS * 1000:7.1f} ms"
                )
            ours_p = show("long-poll watch (ours)", ours)
            if os.environ.get("BENCH_SWITCH_POLLING", "1") == "0":
                return
            # Same leaf, back where it started (the 64th machine free after an even number of changes).
            polled = asyncio.run(
                measure(server, (redis_server, frr, token), POLL_PERIOD, (0.0, POLL_PERIOD), {})
            )
            polled_p = show(f"polling every {POLL_PERIOD:.0f} s (metal-core's design)", polled)
            print(
                f"   ratio polling/ours: p50 {polled_p[0] / ours_p[0]:.1f}x, "
                f"p99 {polled_p[1] / ours_p[1]:.1f}x"
            )
    finally:
        stop_server(server.pid)


if __name__ == "__main__":
    main()
