"""The devices of one lab switch: its namespace, and (leaves) the VRF namespaces in its private
namespace directory.  Every call names where it acts: `where=None` is the switch's own namespace,
`where="Vrf100"` that VRF's namespace."""

from __future__ import annotations

import json
from pathlib import Path

from fabric.adapters.process import Result, run, run_checked
from lab.rig.netns import NetnsDir

VXLAN_PORT = "4789"


class Kernel:
    """Device operations for switch namespace `netns` with VRF namespaces under `vrf_dir`."""

    def __init__(self, netns: str, vrf_dir: Path | None) -> None:
        self.netns = netns
        self.vrf_dir = NetnsDir.at(vrf_dir) if vrf_dir else None

    def _prefix(self, where: str | None) -> list[str]:
        if where is None:
            return ["ip", "netns", "exec", self.netns]
        assert self.vrf_dir is not None, "VRFs need the switch's namespace directory"
        return ["nsenter", f"--net={self.vrf_dir.path / where}"]

    def run(self, where: str | None, *argv: str) -> Result:
        """Run `argv` in `where` (never raises)."""
        return run([*self._prefix(where), *argv], timeout=15)

    def ip(self, where: str | None, *args: str) -> Result:
        """`ip ARGS` in `where`, raising `ApplyError` on failure."""
        return run_checked([*self._prefix(where), "ip", *args], phase=f"sonic:{self.netns}", timeout=15)

    def links(self, where: str | None) -> dict[str, dict[str, object]]:
        """`ip -j link` in `where`, by name ({} when `where` does not exist)."""
        result = self.run(where, "ip", "-j", "-d", "link", "show")
        if not result.ok:
            return {}
        return {link["ifname"]: link for link in json.loads(result.stdout or "[]")}

    def ns_path(self, where: str | None) -> str:
        """What `ip link set ... netns` takes for `where`: a /run/netns name or a namespace file."""
        if where is None:
            return self.netns
        assert self.vrf_dir is not None
        return str(self.vrf_dir.path / where)

    # ---- VRF namespaces --------------------------------------------------------------------------------

    def vrf_exists(self, vrf: str) -> bool:
        """True when VRF namespace `vrf` exists in the directory."""
        return self.vrf_dir is not None and vrf in self.vrf_dir.names()

    # ---- devices ---------------------------------------------------------------------------------------

    def move(self, device: str, src: str | None, dst: str | None) -> None:
        """Move `device` from `src` to `dst` and bring it up there (a move takes it down)."""
        if src != dst:
            self.ip(src, "link", "set", device, "netns", self.ns_path(dst))
        self.ip(dst, "link", "set", device, "up")

    def add_bridge(self, where: str | None, name: str, mac: str | None = None) -> None:
        """A bridge `name` in `where` with address `mac`, up (an SVI when `where` is a VRF).

        A set address stays: without one a bridge takes its lowest port MAC and changes it as ports
        join, and zebra then announces a router MAC that is gone by the time traffic flows (SONiC
        gives every SVI the switch's MAC).
        """
        if name not in self.links(where):
            self.ip(where, "link", "add", name, *(["address", mac] if mac else []), "type", "bridge")
        self.ip(where, "link", "set", name, "up")

    def add_vxlan(self, name: str, vni: int, local: str, dst: str | None, bridge: str) -> None:
        """A VXLAN device created in the switch's namespace (its underlay), moved to `dst`, enslaved
        to `bridge` there, with learning off and ARP/ND suppression on (EVPN fills the FDB)."""
        if name not in self.links(dst):
            self.ip(None, "link", "add", name, "type", "vxlan", "id", str(vni), "local", local,
                    "dstport", VXLAN_PORT, "nolearning")  # fmt: skip
            self.move(name, None, dst)
        self.ip(dst, "link", "set", name, "master", bridge)
        self.run(dst, "bridge", "link", "set", "dev", name, "learning", "off", "neigh_suppress", "on")
        self.ip(dst, "link", "set", name, "up")

    def delete_link(self, where: str | None, name: str) -> None:
        """Delete device `name` in `where` if it exists."""
        if name in self.links(where):
            self.ip(where, "link", "del", name)
