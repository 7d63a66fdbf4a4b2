"""Kernel VRFs for real: the production leaf rendering (no netns line) in a qemu VM with Debian's kernel.

This machine has no kernel VRF devices, so the scenario runs once per module inside a `KernelVm`
(lab/vm): leaf01 of the examples, with a second machine port in Vrf100010, rendered by fabric's
renderer; machines m-alpha-1 and m-alpha-2 rendered likewise, peering BGP unnumbered into the leaf's
VRF ports.  The guest reports what it saw as JSON; the tests below read it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fabric.core.configdb import merge_configdb
from fabric.core.frr_model import FrrOptions
from fabric.core.observed import Observed
from fabric.core.plan import plan_as_data
from fabric.model import load, load_file
from fabric.model.machine import MachineState
from fabric.model.switch import SwitchState
from fabric.render.frr import render_machine_frr
from fabric.render.switch import desired_switch, plan_switch
from lab.rig import Rig
from lab.vm import VmResult, run_spec_scenario
from lab.vm.scenarios import kernel_vrf_leaf

pytestmark = [pytest.mark.slow, pytest.mark.needs("netns", "frr", "ping", "qemu")]

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "examples"
OPTIONS = FrrOptions(frr_version="8.4")  # the FRR on the host root the guest runs
M1 = ("10.10.0.5/32", "2001:db8:10::5/128")
M2 = ("10.10.0.6/32", "2001:db8:10::6/128")
TABLES = {"Vrf100010": 1001, "Vrf100020": 1002}  # what SONiC's vrfmgrd would pick
LEAVING = "Vrf100020"
BASE_CONFIG = Path(__file__).resolve().parents[2] / "golden" / "base_config.json"


def _documents() -> tuple[SwitchState, MachineState, MachineState]:
    """leaf01 with Ethernet12 turned into a second machine port of Vrf100010; both machines."""
    leaf = json.loads((EXAMPLES / "leaf01.json").read_text())
    for port in leaf["ports"]:
        if port["name"] == "Ethernet12":
            port.update(role="machine", vrf="Vrf100010", description="m-alpha-2", allow=list(M2))
    m1 = load_file(MachineState, EXAMPLES / "machine-alpha-1.json")
    m2_data = json.loads((EXAMPLES / "machine-alpha-1.json").read_text())
    m2_data["machine"] = {"name": "m-alpha-2", "asn": 4210000006, "router_id": "10.10.0.6"}
    m2_data["announce"] = list(M2)
    return load(SwitchState, leaf), m1, load(MachineState, m2_data)


def _without_leaving(leaf: SwitchState) -> SwitchState:
    """leaf01's next revision: Vrf100020 gone, its port (Ethernet4) back to unprovisioned."""
    data = leaf.model_dump(mode="json", exclude_none=True)
    data["revision"] += 1
    data["vrfs"] = [v for v in data["vrfs"] if v["name"] != LEAVING]
    for port in data["ports"]:
        if port.get("vrf") == LEAVING:
            for field in ("vrf", "allow", "description"):
                port.pop(field, None)
            port["role"] = "unprovisioned"
    return load(SwitchState, data)


def _kernel_change(op: dict[str, Any]) -> list[str] | None:
    """What SONiC's managers do in the kernel when the plan deletes this CONFIG_DB key (None: nothing
    that matters to FRR here)."""
    table, _, key = op["key"].partition("|")
    if op["op"] != "del" or ("|" in key and table != "VXLAN_TUNNEL_MAP"):
        return None
    if table in ("INTERFACE", "VLAN_INTERFACE"):
        return ["link", "set", key, "nomaster"]  # intfmgrd unbinds the port / SVI from the VRF
    if table == "VXLAN_TUNNEL_MAP":
        tunnel, _, vlan = key.partition("|")[0], None, key.rpartition("_")[2]
        return ["link", "del", f"{tunnel}-{vlan.removeprefix('Vlan')}"]  # vxlanmgrd
    if table in ("VLAN", "VRF"):
        return ["link", "del", key]  # vlanmgrd, vrfmgrd
    return None


def _removal(leaf: SwitchState, files: dict[str, str]) -> dict[str, Any]:
    """The switch daemon's removal of Vrf100020 as rendered and planned by fabric, for the guest."""
    base = Observed.from_configdb(json.loads(BASE_CONFIG.read_text()))
    prior = desired_switch(leaf, base, OPTIONS)
    observed = Observed.from_configdb(merge_configdb(base.configdb, prior.configdb), frr=prior.frr)
    desired, plan = plan_switch(_without_leaving(leaf), observed, OPTIONS)
    # The daemon applies FRR's withdraw config in the first phase, before any deletion, and the final
    # one at the end (`fabric.core.plan`); with nothing to withdraw first, the final config is applied
    # once, in the first phase (the guest then reloads the same file twice, the second a no-op).
    configs = [p.frr for p in plan.phases if p.frr is not None]
    first, last = plan.phases[0].frr, configs[-1]
    assert first is not None and last == desired.frr, plan_as_data(plan)
    files.update({"leaf.conf": prior.frr or "", "leaf.withdraw.conf": first, "leaf.final.conf": last})
    phases = plan_as_data(plan, {first: "withdraw", last: "final"})
    teardown = [c for p in phases for op in p["ops"] if (c := _kernel_change(op))]
    vni = next(v.vni for v in leaf.vrfs if v.name == LEAVING)
    vlan = next(m["vlan"] for m in prior.configdb["VXLAN_TUNNEL_MAP"].values() if m["vni"] == str(vni))
    return {
        "vrf": LEAVING,
        "ports": [{"name": p.name, "vrf": LEAVING} for p in leaf.ports if p.vrf == LEAVING],
        "l3vnis": [
            {
                "vrf": LEAVING,
                "vni": vni,
                "svi": vlan,
                "vxlan": f"vtep-{vlan.removeprefix('Vlan')}",
                "local": base.configdb["VXLAN_TUNNEL"]["vtep"]["src_ip"],
            }
        ],
        "withdraw": "leaf.withdraw.conf",
        "final": "leaf.final.conf",
        "teardown": teardown,
        "plan": phases,
    }


def _job() -> tuple[dict[str, Any], dict[str, str]]:
    """The scenario's spec.json and the rendered frr.conf files."""
    leaf, m1, m2 = _documents()
    machines = [("m1", m1, "Ethernet0", M1), ("m2", m2, "Ethernet12", M2)]
    files: dict[str, str] = {}
    removal = _removal(leaf, files)
    spec_machines = []
    for node, state, port, addresses in machines:
        files[f"{node}.conf"] = render_machine_frr(state, OPTIONS)
        spec_machines.append(
            {
                "node": node,
                "hostname": state.machine.name,
                "frr": f"{node}.conf",
                "nic": state.uplinks[0],
                "leaf_port": port,
                "addresses": list(addresses),
            }
        )
    spec = {
        "leaf": {
            "node": "leaf",
            "hostname": leaf.switch.name,
            "frr": "leaf.conf",
            "vrfs": [{"name": v.name, "table": TABLES[v.name]} for v in leaf.vrfs],
            "ports": [{"name": p.name, "vrf": p.vrf} for p in leaf.ports if p.vrf],
        },
        "machines": spec_machines,
        "expect": {"Vrf100010": [*M1, *M2]},
        "pings": [
            {"from": "m1", "source": "10.10.0.5", "to": "10.10.0.6"},
            {"from": "m1", "source": "2001:db8:10::5", "to": "2001:db8:10::6"},
        ],
        "kernel_tables": {"main": "main", **{name: str(t) for name, t in TABLES.items()}},
        "timeout": 60,
        "removal": removal,
    }
    return spec, files


@pytest.fixture(scope="module")
def run(rig: Rig) -> Iterator[VmResult]:
    """The scenario, run once for the module's tests."""
    spec, files = _job()
    yield run_spec_scenario(rig, Path(kernel_vrf_leaf.__file__), spec, files, label="kernel VRF VM")


def _kernel_prefixes(routes: list[dict[str, Any]]) -> set[str]:
    """Destinations of `ip -j route` output, normalised to prefixes (a host route prints bare)."""
    return {str(ipaddress.ip_network(r["dst"], strict=False)) for r in routes if r["dst"] != "default"}


def test_leaf_has_kernel_vrf_devices_frr_uses(run: VmResult) -> None:
    devices = {d["ifname"]: d["linkinfo"]["info_data"]["table"] for d in run.data["vrf_devices"]}
    assert devices == TABLES
    # zebra took them as kernel VRFs (no netns backend): "vrf NAME id IFINDEX table T" for each.
    shown = dict(re.findall(r"^vrf (\S+) id \d+ table (\d+)", run.data["frr_vrfs"], re.MULTILINE))
    assert shown == {name: str(table) for name, table in TABLES.items()}, run.data["frr_vrfs"]


def test_machine_routes_installed_in_tenant_vrf(run: VmResult) -> None:
    assert run.data["converged"], run.output[-2000:]
    routes = run.data["routes"]["Vrf100010"]
    for prefix in (M1[0], M2[0]):
        best = [r for r in routes["ipv4"][prefix] if r.get("selected")]
        assert best and best[0]["protocol"] == "bgp" and best[0]["installed"] is True, best
        assert best[0]["vrfName"] == "Vrf100010"
    for prefix in (M1[1], M2[1]):
        assert any(r.get("installed") for r in routes["ipv6"][prefix]), routes["ipv6"][prefix]
    peers = routes["bgp"]["ipv4Unicast"]["peers"]
    assert {p: peers[p]["state"] for p in ("Ethernet0", "Ethernet12")} == {
        "Ethernet0": "Established",
        "Ethernet12": "Established",
    }


def test_routes_are_in_the_vrf_table_only(run: VmResult) -> None:
    kernel = run.data["kernel"]
    for prefix in M1 + M2:
        family = "6" if ":" in prefix else "4"
        assert prefix in _kernel_prefixes(kernel["Vrf100010"][family]), prefix
        assert prefix not in _kernel_prefixes(kernel["main"][family]), prefix
        assert prefix not in _kernel_prefixes(kernel["Vrf100020"][family]), prefix
    assert not run.data["routes"]["Vrf100020"]["ipv4"].get(M1[0])


def test_ping_crosses_the_tenant_vrf(run: VmResult) -> None:
    for ping in run.data["pings"]:
        assert ping["rc"] == 0, ping


def _said(step: dict[str, Any]) -> list[str]:
    """FRR's complaints in one step's output: vtysh's `% ...` lines and frr-reload.py's failures."""
    text = step.get("stdout", "") + step.get("stderr", "")
    return [line for line in text.splitlines() if "% " in line or "Failed" in line or "ERROR" in line]


def test_vrf_removal_is_taken_without_complaint(run: VmResult) -> None:
    removal = run.data["removal"]
    # The proof needs bgpd to hold the L3VNI before the removal (what makes it refuse the instance).
    assert removal["l3vni_bound_before"], removal["bgp_vnis_before"]
    for step in removal["steps"]:
        assert step["rc"] == 0 and not _said(step), (step["step"], _said(step) or step)


def test_vrf_removal_unbinds_the_l3vni_before_the_instance(run: VmResult) -> None:
    # Why one reload is enough with kernel VRFs: the `vrf` block vanishes from the file, and
    # frr-reload.py deletes a vanished `vrf` block line by line (never `no vrf`, which zebra refuses for
    # an active VRF) in running-config order, where `vrf` blocks come before `router bgp` instances.
    withdraw = next(s for s in run.data["removal"]["steps"] if s["step"] == "withdraw")
    executed = re.findall(r'Executed "([^"]*)"', withdraw["stderr"])
    assert f"vrf {LEAVING}  no vni 100020" in executed, executed
    instance = next(c for c in executed if c.startswith("no router bgp") and c.endswith(f"vrf {LEAVING}"))
    assert executed.index(f"vrf {LEAVING}  no vni 100020") < executed.index(instance)
    assert not any(c.startswith(f"no vrf {LEAVING}") for c in executed), executed


def test_vrf_removal_ends_clean(run: VmResult) -> None:
    removal = run.data["removal"]
    assert removal["test"]["rc"] == 0 and removal["test"]["stdout"] == "", removal["test"]
    assert LEAVING not in removal["running_config"] and "100020" not in removal["running_config"]
    assert removal["converged_after"], "Vrf100010 lost its machine routes during the removal"
