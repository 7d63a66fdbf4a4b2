"""Guest step of `kernel_vrf_leaf`: a tenant VRF's L3VNI plumbing, then its removal as a switch applies it.

SONiC binds a VRF's L3VNI in the kernel as a VXLAN device (``vtep-1002``, VNI 100020) in the VLAN's
bridge, whose SVI (``Vlan1002``) is enslaved to the VRF; zebra reports the L3VNI to bgpd only once both
are up ("oper up"), and only then does bgpd hold it (`% Please unconfigure l3vni N`).  `build_l3vni`
makes that (vxlanmgrd's and vlanmgrd's job; here one Linux bridge per VLAN is the SVI, as in the lab's
stand-in).

`remove_vrf` plays the sequence the switch daemon applies for the plan the host rendered: the withdraw
frr.conf through ``frr-reload.py --reload``, the kernel devices SONiC's managers delete once the
CONFIG_DB keys go (VXLAN device, SVI, then the VRF device: vrfmgrd), then the final frr.conf, and
records what FRR said at each step.  It asserts nothing: the host test does.

spec["removal"]::

    {"vrf": "Vrf100020", "ports": [{"name": "Ethernet4", "vrf": "Vrf100020"}],
     "l3vnis": [{"vrf": "Vrf100020", "vni": 100020, "svi": "Vlan1002", "vxlan": "vtep-1002",
                 "local": "10.0.0.11"}],
     "withdraw": "leaf.withdraw.conf", "final": "leaf.final.conf",
     "teardown": [["link", "set", "Ethernet4", "nomaster"], ["link", "del", "vtep-1002"],
                  ["link", "del", "Vlan1002"], ["link", "del", "Vrf100020"]]}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lab.rig import FrrInstance, Netns, wait_until
from lab.vm.scenarios import settle

VXLAN_PORT = "4789"
ZEBRA_WAIT_S = 30.0  # zebra reads netlink events at emulated speed


def build_l3vni(ns: Netns, l3vni: dict[str, Any]) -> None:
    """The VLAN's bridge as the SVI in the VRF, with the L3VNI's VXLAN device in it, all up."""
    svi, vxlan = l3vni["svi"], l3vni["vxlan"]
    ns.ip("link", "add", svi, "type", "bridge")
    ns.ip("link", "set", svi, "master", l3vni["vrf"])
    ns.ip("link", "add", vxlan, "type", "vxlan", "id", str(l3vni["vni"]), "local", l3vni["local"],
          "dstport", VXLAN_PORT, "nolearning")  # fmt: skip
    ns.ip("link", "set", vxlan, "master", svi)
    ns.ip("link", "set", vxlan, "up")
    ns.ip("link", "set", svi, "up")


def build_port(ns: Netns, port: dict[str, Any]) -> None:
    """A switch port with no machine behind it (a dummy device) bound to its VRF, up (intfmgrd)."""
    ns.ip("link", "add", port["name"], "type", "dummy")
    ns.ip("link", "set", port["name"], "master", port["vrf"])
    ns.ip("link", "set", port["name"], "up")


def l3vni_bound(frr: FrrInstance, vni: int) -> bool:
    """Whether bgpd holds `vni` as an L3VNI (what makes it refuse to delete the VRF's instance)."""
    return bool(re.search(rf"^\*?\s*{vni}\s+L3\s", frr.vtysh("show bgp l2vpn evpn vni"), re.MULTILINE))


def _reload(frr: FrrInstance, step: str, conf: str) -> dict[str, Any]:
    """`frr-reload.py --reload` of `conf`, with what it printed and the running config after it."""
    result = frr.reload(Path(conf).resolve())
    return {
        "step": step,
        "rc": result.rc,
        "stdout": result.stdout[-3000:],
        "stderr": result.stderr[-6000:],
        "running_config": frr.running_config(),
    }


def _teardown(ns: Netns, frr: FrrInstance, vrf: str, argvs: list[list[str]]) -> list[dict[str, Any]]:
    """Delete the devices (SONiC's managers), then wait until zebra no longer has `vrf` active."""
    steps = []
    for argv in argvs:
        result = ns.exec(["ip", *argv])
        steps.append({"step": "ip " + " ".join(argv), "rc": result.rc, "stderr": result.stderr[-500:]})
    active = re.compile(rf"^vrf {re.escape(vrf)} id \d+", re.MULTILINE)
    wait_until(lambda: not active.search(frr.vtysh("show vrf")), timeout=ZEBRA_WAIT_S, interval=0.5,
               what=f"zebra sees {vrf} gone")  # fmt: skip
    return steps


def remove_vrf(ns: Netns, frr: FrrInstance, removal: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Once bgpd holds the L3VNIs (within spec's timeout): withdraw reload, device teardown, final
    reload, then `frr-reload.py --test` of the final file."""
    vrf = removal["vrf"]
    bound = settle(lambda: all(l3vni_bound(frr, v["vni"]) for v in removal["l3vnis"]), spec)
    observed: dict[str, Any] = {
        "l3vni_bound_before": bound,
        "bgp_vnis_before": frr.vtysh("show bgp l2vpn evpn vni"),
        "running_config_before": frr.running_config(),
        "steps": [_reload(frr, "withdraw", removal["withdraw"])],
    }
    observed["steps"] += _teardown(ns, frr, vrf, removal["teardown"])
    observed["steps"].append(_reload(frr, "final", removal["final"]))
    test = frr.reload(Path(removal["final"]).resolve(), test=True)
    observed["test"] = {"rc": test.rc, "stdout": test.stdout, "stderr": test.stderr[-2000:]}
    observed["running_config"] = frr.running_config()
    observed["frr_vrfs"] = frr.vtysh("show vrf")
    observed["log_tail"] = frr.log_tail(40)
    return observed
