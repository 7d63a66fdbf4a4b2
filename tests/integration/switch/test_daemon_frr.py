"""`fabric switch run` meets FRR on its own terms: FRR restarting under it, and FRR refusing a reload.

Real `fabric api` (SQLite), real Redis, real FRR with the netns VRF backend (as in the lab: each VRF is
a namespace in the node's private /run/netns), the real planner; the STATE_DB filler stands in for
SONiC's managers.

- FRR restarts on its own and comes back without fabric's config (SONiC's bgp container recreated):
  the daemon notices the new PIDs and re-applies, with no change of the desired state;
- FRR refuses the candidate for real: the tenant VRF's namespace does not exist yet, so zebra rejects
  ``netns /run/netns/<vrf>`` and frr-reload.py fails half-way.  The daemon restores the last good
  config, reports ``frr:reload`` to the API, retries with backoff, and converges once the namespace
  exists (as SONiC's vrfmgrd would create the VRF).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from daemon_helpers import LEAF, DaemonProcess, eventually, fleet_row, wait_applied, wait_error

from fabric.adapters.api_client import ApiClient
from fabric.adapters.frr import LAST_GOOD
from fabric.model.switch import SwitchState
from lab.rig import FrrInstance, NetnsDir, Rig

pytestmark = pytest.mark.needs("root", "netns", "frr", "redis")

DAEMON_CONFIG = {"frr": {"vrf_backend": "netns", "timeout": 20}}


@pytest.fixture(scope="module")
def vrf_dir(rig: Rig) -> NetnsDir:
    return rig.netns_dir("sw1")


@pytest.fixture(scope="module")
def frr(rig: Rig, vrf_dir: NetnsDir) -> Iterator[FrrInstance]:
    """FRR with the netns VRF backend, seeing only this leaf's VRF namespaces.

    Its hostname is the switch's (the rendered ``hostname``), so FRR can run exactly the rendered file:
    vtysh prints its own UTS hostname, which frr-reload.py would otherwise always show as a delta.
    """
    yield rig.frr(rig.netns("sw1"), LEAF, netns_vrf=True, netns_dir=vrf_dir)


async def applied(api: ApiClient, daemon: DaemonProcess) -> dict[str, Any]:
    try:
        return await wait_applied(api, timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\ndaemon log:\n{daemon.tail()}") from None


def log_entries(daemon: DaemonProcess) -> list[dict[str, Any]]:
    lines = daemon.log.read_text().splitlines() if daemon.log.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def runs_last_good(frr: FrrInstance) -> bool:
    """FRR's running config is the daemon's last good file (frr-reload.py --test shows no delta)."""
    return frr.delta(frr.dir / LAST_GOOD).empty


async def test_starts_and_applies(world: dict[str, Any], daemon: DaemonProcess, api: ApiClient) -> None:
    await applied(api, daemon)


async def test_frr_restarted_without_our_config_is_reapplied_without_a_desired_change(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient, frr: FrrInstance
) -> None:
    before = await fleet_row(api)
    asn = (await api.get_state("switch", LEAF)).document
    assert isinstance(asn, SwitchState)
    bgp = f"router bgp {asn.switch.asn}"
    assert bgp in frr.running_config(), frr.running_config()
    assert runs_last_good(frr)
    seen = len(log_entries(daemon))
    await asyncio.to_thread(frr.stop)
    # Back with other PIDs and only its base config, as a recreated bgp container would be.
    await asyncio.to_thread(frr.start, f"hostname {frr.hostname}\nservice integrated-vtysh-config\n")
    assert bgp not in frr.running_config()

    async def reapplied() -> bool:
        return bgp in await asyncio.to_thread(frr.running_config)

    await eventually(reapplied, "the daemon to re-apply FRR's config after the restart", timeout=60)
    row = await applied(api, daemon)
    assert row["applied_revision"] == before["applied_revision"] == row["desired_revision"]
    assert await asyncio.to_thread(runs_last_good, frr)
    messages = [e["msg"] for e in log_entries(daemon)[seen:]]
    assert "FRR restarted; re-checking its config" in messages
    assert any(m.startswith("FRR does not run the config last applied (FRR restarted)") for m in messages)


async def test_reload_refused_restores_last_good_reports_backs_off_and_recovers(
    world: dict[str, Any], daemon: DaemonProcess, api: ApiClient, frr: FrrInstance, vrf_dir: NetnsDir
) -> None:
    seen = len(log_entries(daemon))
    await api.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
    doc = (await api.get_state("switch", LEAF)).document
    assert isinstance(doc, SwitchState)
    port = doc.port("Ethernet0")
    assert port is not None and port.vrf is not None and port.vrf not in vrf_dir.names()
    row = await wait_error(api, "frr:reload", timeout=60)
    assert "last good config restored" in row["last_error"], row["last_error"]
    assert f"/run/netns/{port.vrf}" in row["last_error"] or "zebra" in row["last_error"]

    async def backed_off() -> list[dict[str, Any]]:
        retries = [e for e in log_entries(daemon)[seen:] if e["msg"].startswith("retrying in")]
        return retries if len(retries) >= 2 else []

    retries = await eventually(backed_off, "two retries with backoff", timeout=60)
    assert {e.get("phase") for e in retries} == {"frr:reload"}
    # Hold the daemon still (maintenance pause) to look at FRR between attempts: the last good config.
    await api.request("POST", f"/v1/switches/{LEAF}/pause")
    await eventually(lambda: _paused(api), "the switch to report itself paused", timeout=60)
    assert await asyncio.to_thread(runs_last_good, frr)
    assert f"vrf {port.vrf}" not in frr.running_config()  # no half-applied tenant left in FRR
    await vrf_namespace(frr, vrf_dir, port.vrf)  # as SONiC's vrfmgrd would: FRR can take the config now
    await api.request("POST", f"/v1/switches/{LEAF}/resume")
    row = await applied(api, daemon)
    assert not row["last_error"]
    config = frr.running_config()
    assert f"vrf {port.vrf}\n" in config and f" netns /run/netns/{port.vrf}" in config
    assert await asyncio.to_thread(runs_last_good, frr)


async def vrf_namespace(frr: FrrInstance, vrf_dir: NetnsDir, name: str) -> None:
    """Create VRF `name`'s namespace and wait until zebra has it.

    zebra 8.4 sometimes fails to take a namespace that appears under it (its log: "Can not enable NS
    ...: Invalid NSID", then it never retries), seen here on a loaded machine; creating the namespace
    anew makes zebra look again.  That is FRR's inotify handling, outside what the daemon does.
    """
    for _ in range(3):
        vrf_dir.add(name)
        try:
            await eventually(lambda: _zebra_has(frr, name), f"zebra to take namespace {name}", timeout=5)
            return
        except AssertionError:
            vrf_dir.delete(name)
    raise AssertionError(f"zebra never took namespace {name}:\n{frr.log_tail()}")


async def _zebra_has(frr: FrrInstance, name: str) -> bool:
    shown = await asyncio.to_thread(frr.vtysh, "show vrf")
    return any(line.startswith(f"vrf {name} id ") for line in shown.splitlines())


async def _paused(api: ApiClient) -> bool:
    return bool((await fleet_row(api))["paused"])
