"""The SONiC stand-in of one lab switch: CONFIG_DB → namespaces and devices, STATE_DB, APPL_DB.

What SONiC's vrfmgrd, vlanmgrd, vxlanmgrd, intfmgrd, portmgrd and lldp_syncd do on a real switch, done
for network namespaces (docs/concepts.md#lab) and, like them, asynchronously: CONFIG_DB changes arrive as
keyspace notifications, a burst is drained before it is processed (so pending operations coalesce per
key: a key set and deleted before processing is simply absent, a delete followed by a re-add is lost),
then CONFIG_DB is read and the devices are converged on it.  STATE_DB entries are written only once the
devices exist and deleted when they are torn down.

VRF namespaces are never created or deleted here: `fabric lab up` makes one per VNI of the lab's range
in each leaf's namespace directory before that leaf's FRR starts, because FRR 8.4's netns VRF backend
does not survive namespace churn (zebra loses parts of a new namespace's netlink dump, and aborts with
heap corruption after one is freed and another made).  `VRF|VrfN` realises devices in the existing
namespace (the L3VNI's VXLAN and bridge, the moved ports) and writes STATE_DB; its delete tears them
down, moves the ports back and leaves the namespace, empty, in place.  This is where the lab differs
from SONiC, whose vrfmgrd deletes the kernel VRF device: what SONiC shows (STATE_DB `VRF_TABLE`, FRR's
`router bgp ... vrf`, the ports) is the same.  A VRF outside the range is logged and never realised.
The rest of the netns-backend dance is done here too: a VRF is filled only once zebra lists it
(`_await_zebra`), and once zebra shows a new L3VNI up, its VXLAN device is set down and a poll later up
again, which makes zebra withdraw the L3VNI from bgpd and announce it anew (L3VNIs bound at runtime
otherwise often stay unbound, or get routes without router MACs).  That re-bind is done on the device,
never in FRR's config: toggling `no vni N` / `vni N` in FRR (as this stand-in once did) left a second
in which FRR's running config lacked the `vni` the switch daemon applied, so a daemon applying then
saw FRR differ from its candidate and fell back to frr-reload.py.  Lab code only: the switch daemon
never sees any of this except through the DBs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from fabric.adapters.process import run
from fabric.core.tables import Tables
from lab.rig.daemon import wrap
from lab.sonic.base_config import APPL_DB, CONFIG_DB, STATE_DB
from lab.sonic.desired import TABLES, Desired, PortSpec, VlanSpec, desired, vxlan_name
from lab.sonic.kernel import Kernel
from lab.sonic.lldp import LldpHold, lldp_entries
from lab.sonic.rmac import missing_router_macs

log = logging.getLogger("lab.sonic")
BURST_S = 0.05  # how long a burst of notifications is drained before processing
POLL_S = 1.0  # LLDP and port oper state
# Lab-only STATE_DB hash (no SONiC table): VRF -> "pending" while its L3VNI re-bind is under way, so
# tests can wait for the stand-in's device toggling to be over.
REBIND_KEY = "LAB_STANDIN_TABLE|l3vni_rebind"
RMAC_CHECK_S = 2.0  # how often the VRFs' router-MAC neighbours are checked (lab.sonic.rmac)
RMAC_GRACE_S = 10.0  # after a re-bind, zebra's time to install them again before the next check
ZEBRA_VRF_WAIT_S = 5.0  # zebra picks a new VRF namespace up within a second; some it never lists (below)


@dataclass(frozen=True)
class Placement:
    """Where a port is: routed (INTERFACE key) in `vrf`, or an untagged member of `vlan`."""

    routed: bool
    vrf: str | None
    vlan: str | None


class StandIn:
    """The stand-in for the switch described by `record` (a `lab.state.NodeRecord` as a dict)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.name: str = record["name"]
        self.netns: str = record["netns"]
        self.frr_dir: str | None = record.get("frr_dir")
        self.lldp_socket: str | None = record.get("lldp_socket")
        self.socket: str = record["redis_socket"]
        self.kernel = Kernel(self.netns, Path(record["vrf_dir"]) if record.get("vrf_dir") else None)
        self.config = redis.Redis(unix_socket_path=self.socket, db=CONFIG_DB, decode_responses=True)
        self.state = redis.Redis(unix_socket_path=self.socket, db=STATE_DB, decode_responses=True)
        self.appl = redis.Redis(unix_socket_path=self.socket, db=APPL_DB, decode_responses=True)
        # What is realised now (the stand-in's memory; it starts with a switch in its base state).
        self.vrfs: set[str] = set()
        self.vlans: dict[str, VlanSpec] = {}
        self.placed: dict[str, Placement] = {}
        self.link_set: dict[str, tuple[bool, int | None]] = {}
        # VRF -> (L3VNI, its VXLAN device) waiting for zebra to show it up, then the re-bind toggle
        self.rebinds: dict[str, tuple[int, str]] = {}
        self.l3vnis: dict[str, tuple[int, str, str]] = {}  # VRF -> (VNI, SVI, VXLAN device)
        self.rmacs_checked = 0.0
        self.rebound_at: dict[str, float] = {}
        self.unbound: set[str] = set()  # VRFs whose L3VNI's VXLAN device the re-bind set down
        self.lldp_kept: dict[str, dict[str, str]] = {}  # what APPL_DB holds
        self.lldp_hold = LldpHold()
        self.port_oper: dict[str, str] = {}

    # ---- the loop --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Subscribe to CONFIG_DB keyspace notifications and converge on every burst; poll LLDP/ports."""
        notifications = redis.asyncio.Redis(unix_socket_path=self.socket, decode_responses=True).pubsub()
        await notifications.psubscribe(f"__keyspace@{CONFIG_DB}__:*")
        await asyncio.to_thread(self.sync, set())
        next_poll = 0.0
        while True:
            message = await notifications.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                keys = {message["channel"].split(":", 1)[1]}
                deadline = time.monotonic() + BURST_S
                while time.monotonic() < deadline:
                    more = await notifications.get_message(ignore_subscribe_messages=True, timeout=0.01)
                    if more is not None:
                        keys.add(more["channel"].split(":", 1)[1])
                await asyncio.to_thread(self.sync, keys)
            if time.monotonic() >= next_poll:
                await asyncio.to_thread(self.poll)
                next_poll = time.monotonic() + POLL_S

    def sync(self, keys: set[str]) -> None:
        """Read CONFIG_DB and converge the devices on it (`keys`: what changed, for the log)."""
        if keys:
            log.info("processing %d changed key(s): %s", len(keys), ", ".join(sorted(keys))[:500])
        want = desired(self._read_tables())
        try:
            self._converge(want)
        except Exception:
            log.exception("converging failed; retried on the next change or poll")

    def _read_tables(self) -> Tables:
        tables: Tables = {t: {} for t in TABLES}
        for table in TABLES:
            keys = list(self.config.scan_iter(match=f"{table}|*", count=1000))
            pipe = self.config.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(key)
            for key, fields in zip(keys, pipe.execute(), strict=True):
                if fields:
                    tables[table][key.split("|", 1)[1]] = fields
        return tables

    # ---- converging ------------------------------------------------------------------------------------

    def _converge(self, want: Desired) -> None:
        if want.tunnel and want.tunnel[1]:
            self.state.hset(
                f"VXLAN_TUNNEL_TABLE|{want.tunnel[0]}",
                mapping={"src_ip": want.tunnel[1], "operstatus": "up", "tnl_src": "CLI"},
            )
        # Undo placements that change, so the VLANs and VRFs they depend on can change next.
        for port, have in list(self.placed.items()):
            spec = want.ports.get(port)
            if spec is None or _placement(spec) != have:
                self._unplace(port, have)
        for vrf in sorted(want.vrfs - self.vrfs):
            if not self.kernel.vrf_exists(vrf):
                # The lab makes the namespaces of its VNI range before FRR starts; there is no other.
                log.error("VRF %s: no such VRF namespace (outside the lab's VNI range?)", vrf)
                continue
            self._await_zebra(vrf)
            self.vrfs.add(vrf)
            self.state.hset(f"VRF_TABLE|{vrf}", mapping={"state": "ok"})
        for vlan, have_vlan in list(self.vlans.items()):
            if want.vlans.get(vlan) != have_vlan:
                self._teardown_vlan(vlan, have_vlan, want)
        for vlan, vlan_spec in sorted(want.vlans.items()):
            if vlan not in self.vlans and (vlan_spec.vrf is None or vlan_spec.vrf in self.vrfs):
                self._build_vlan(vlan, vlan_spec, want)
        for vrf in sorted(self.vrfs - want.vrfs):
            in_use = [v for v, s in self.vlans.items() if s.vrf == vrf]
            in_use += [p for p, s in self.placed.items() if s.vrf == vrf]
            if in_use:  # like vrfmgrd: a VRF goes only once nothing references it
                log.info("VRF %s deleted but still used by %s: deferred", vrf, ", ".join(in_use))
                continue
            # The namespace stays, empty (its devices are gone, its ports moved back): see module doc.
            self.vrfs.discard(vrf)
            self._rebind_over(vrf)
            self.state.delete(f"VRF_TABLE|{vrf}")
        devices = self.kernel.links(None)
        for port, spec in sorted(want.ports.items()):
            if port not in self.placed and port in devices:
                self._place(port, spec)
            if port in self.placed:
                self._link_settings(port, spec)

    def _await_zebra(self, vrf: str) -> None:
        """Wait until zebra watches VRF namespace `vrf` before anything is put in it.

        zebra finds a new namespace by inotify and reads what is already in it with one netlink dump;
        FRR 8.4 sometimes loses part of that dump (zebra logs ``netlink-cmd (NS n) error: data remnant
        size ...``) and never hears of those addresses again: a port moved and brought up before it had
        no IPv6 link-local in zebra, so no router advertisements, so the unnumbered BGP session stayed
        Idle ("Waiting for Peer IPv6 LLA"); a VXLAN device lost its bridge.  Once zebra lists the VRF
        with its namespace, every later move, address and device reaches it as a live event.  The lab's
        VRF namespaces exist (empty) before zebra starts, so zebra normally lists them already and this
        returns at once; it stays as a guard, capped at `ZEBRA_VRF_WAIT_S` (then filled with a warning).
        """
        if self.frr_dir is None:
            return
        shown = re.compile(rf"^vrf {re.escape(vrf)} id \d+ netns ", re.MULTILINE)
        deadline = time.monotonic() + ZEBRA_VRF_WAIT_S
        while not shown.search(self.vtysh("show vrf")):
            if time.monotonic() >= deadline:
                log.warning("zebra has not picked up VRF namespace %s after %.0f s", vrf, ZEBRA_VRF_WAIT_S)
                return
            time.sleep(0.05)

    def _build_vlan(self, vlan: str, spec: VlanSpec, want: Desired) -> None:
        self.kernel.add_bridge(spec.vrf, vlan, want.mac)
        if spec.vni is not None and want.tunnel:
            device = vxlan_name(want.tunnel[0], vlan)
            self.kernel.add_vxlan(device, spec.vni, want.tunnel[1], spec.vrf, vlan)
            if spec.vrf is not None:
                self.rebinds[spec.vrf] = (spec.vni, device)
                self.l3vnis[spec.vrf] = (spec.vni, vlan, device)
                self.state.hset(REBIND_KEY, spec.vrf, "pending")
        self.vlans[vlan] = spec
        self.state.hset(f"VLAN_TABLE|{vlan}", mapping={"state": "ok"})
        if spec.vrf is not None:
            self.state.hset(f"INTERFACE_TABLE|{vlan}", mapping={"vrf": spec.vrf, "state": "ok"})

    def _teardown_vlan(self, vlan: str, spec: VlanSpec, want: Desired) -> None:
        for port, have in list(self.placed.items()):
            if have.vlan == vlan:
                self._unplace(port, have)
        if want.tunnel:
            self.kernel.delete_link(spec.vrf, vxlan_name(want.tunnel[0], vlan))
        self.kernel.delete_link(spec.vrf, vlan)
        if spec.vrf is not None and self.rebinds.get(spec.vrf, (None,))[0] == spec.vni:
            self._rebind_over(spec.vrf)
        if spec.vrf is not None and self.l3vnis.get(spec.vrf, (None,))[0] == spec.vni:
            del self.l3vnis[spec.vrf]
        del self.vlans[vlan]
        self.state.delete(f"VLAN_TABLE|{vlan}", f"INTERFACE_TABLE|{vlan}")

    def _place(self, port: str, spec: PortSpec) -> None:
        placement = _placement(spec)
        if placement.vrf is not None and placement.vrf not in self.vrfs:
            return  # deferred until the VRF exists
        vlan = self.vlans.get(placement.vlan or "")
        if placement.vlan is not None and (vlan is None or vlan.vrf != placement.vrf):
            return  # deferred until the VLAN's bridge exists where the port is
        self.kernel.move(port, None, placement.vrf)
        if placement.vlan is not None:
            self.kernel.ip(placement.vrf, "link", "set", port, "master", placement.vlan)
        self.placed[port] = placement
        self.link_set.pop(port, None)  # a move resets admin state and MTU
        if placement.routed:
            self.state.hset(f"INTERFACE_TABLE|{port}", mapping={"vrf": placement.vrf or "", "state": "ok"})

    def _unplace(self, port: str, have: Placement) -> None:
        if have.vlan is not None:
            self.kernel.run(have.vrf, "ip", "link", "set", port, "nomaster")
        if have.vrf is not None and port in self.kernel.links(have.vrf):
            self.kernel.move(port, have.vrf, None)
        del self.placed[port]
        self.link_set.pop(port, None)
        self.state.delete(f"INTERFACE_TABLE|{port}")

    def _link_settings(self, port: str, spec: PortSpec) -> None:
        wanted = (spec.admin_up, spec.mtu)
        if self.link_set.get(port) == wanted:
            return
        where = self.placed[port].vrf
        if spec.mtu is not None:
            self.kernel.run(where, "ip", "link", "set", port, "mtu", str(spec.mtu))
        self.kernel.ip(where, "link", "set", port, "up" if spec.admin_up else "down")
        self.link_set[port] = wanted

    # ---- polling: L3VNI re-bind, LLDP, port oper state --------------------------------------------------

    def poll(self) -> None:
        """One round of the periodic work."""
        try:
            self._router_macs()
            self._rebind()
            self._lldp()
            self._ports()
        except Exception:
            log.exception("poll failed")

    def vtysh(self, *commands: str) -> str:
        """Run vtysh `commands` against this switch's FRR; returns stdout ('' on failure)."""
        if self.frr_dir is None:
            return ""
        argv = ["vtysh", "--vty_socket", self.frr_dir]
        for command in commands:
            argv += ["-c", command]
        result = run(wrap(argv, netns=self.netns, hostname=self.name), timeout=30)
        return result.stdout if result.ok else ""

    def _rebind(self) -> None:
        if not self.rebinds:
            return
        try:
            shown = json.loads(self.vtysh("show vrf vni json") or "{}")
        except ValueError:
            return
        states = {(v.get("vrf"), v.get("vni")): v.get("state") for v in shown.get("vrfs", [])}
        for vrf, (vni, device) in list(self.rebinds.items()):
            if vrf in self.unbound:
                # Second half of the toggle, one poll after the first: bgpd's withdraw and re-import
                # of the L3VNI must not coalesce in zebra, which then never installs the router MACs.
                self.kernel.ip(vrf, "link", "set", device, "up")
                log.info("re-bound L3VNI %d of %s (%s down and up)", vni, vrf, device)
                self._rebind_over(vrf)
                continue
            state = states.get((vrf, vni))
            if state == "Up":
                self.kernel.ip(vrf, "link", "set", device, "down")
                self.unbound.add(vrf)
            elif state is not None:
                # FRR has the VNI but zebra missed the VXLAN device's bridge (it saw the device before
                # it was enslaved in the new namespace: L3-SVI None, Down); a down/up makes it look again.
                self.kernel.run(vrf, "ip", "link", "set", device, "down")
                self.kernel.run(vrf, "ip", "link", "set", device, "up")
                log.info("L3VNI %d of %s is %s in zebra: flapped %s", vni, vrf, state, device)

    def _router_macs(self) -> None:
        """Re-bind an L3VNI whose VRF routes through a VTEP without its router MAC (`lab.sonic.rmac`)."""
        if time.monotonic() - self.rmacs_checked < RMAC_CHECK_S:
            return
        self.rmacs_checked = time.monotonic()
        for vrf, (vni, svi, device) in list(self.l3vnis.items()):
            recent = time.monotonic() - self.rebound_at.get(vrf, 0.0) < RMAC_GRACE_S
            if vrf in self.rebinds or recent or not self.kernel.vrf_exists(vrf):
                continue
            missing = missing_router_macs(self.kernel, vrf, svi)
            if missing:
                log.info("%s routes through %s without a router MAC: re-binding L3VNI %d", vrf, missing, vni)
                self.rebinds[vrf] = (vni, device)

    def _rebind_over(self, vrf: str) -> None:
        """Forget VRF `vrf`'s re-bind (done, or its L3VNI gone) and say so in STATE_DB."""
        self.rebound_at[vrf] = time.monotonic()
        self.rebinds.pop(vrf, None)
        self.unbound.discard(vrf)
        self.state.hdel(REBIND_KEY, vrf)

    def _lldp(self) -> None:
        if self.lldp_socket is None:
            return
        result = run(["lldpctl", "-u", self.lldp_socket, "-f", "json0"], timeout=10)
        if not result.ok:
            return
        heard = lldp_entries(json.loads(result.stdout or "{}"))
        in_vrf = {port for port, have in self.placed.items() if have.vrf is not None}
        entries = self.lldp_hold.entries(heard, in_vrf, time.monotonic())
        pipe = self.appl.pipeline(transaction=True)
        for port in set(self.lldp_kept) - set(entries):
            pipe.delete(f"LLDP_ENTRY_TABLE:{port}")
        for port, fields in entries.items():
            if self.lldp_kept.get(port) != fields:
                pipe.delete(f"LLDP_ENTRY_TABLE:{port}")
                pipe.hset(f"LLDP_ENTRY_TABLE:{port}", mapping=dict[Any, Any](fields))
        pipe.execute()
        self.lldp_kept = entries

    def _ports(self) -> None:
        ports = self._read_tables_one("PORT")
        devices = self.kernel.links(None)
        for vrf in self.vrfs:
            devices.update(self.kernel.links(vrf))
        for port, fields in ports.items():
            flags = devices.get(port, {}).get("flags", [])
            oper = "up" if isinstance(flags, list) and "LOWER_UP" in flags and "UP" in flags else "down"
            if self.port_oper.get(port) == oper:
                continue
            appl: dict[Any, Any] = {**fields, "oper_status": oper}
            self.appl.hset(f"PORT_TABLE:{port}", mapping=appl)
            self.state.hset(f"PORT_TABLE|{port}", mapping={"state": "ok", "netdev_oper_status": oper})
            self.port_oper[port] = oper

    def _read_tables_one(self, table: str) -> dict[str, dict[str, str]]:
        keys = list(self.config.scan_iter(match=f"{table}|*", count=1000))
        pipe = self.config.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return {k.split("|", 1)[1]: v for k, v in zip(keys, pipe.execute(), strict=True) if v}


def _placement(spec: PortSpec) -> Placement:
    return Placement(routed=spec.routed, vrf=spec.vrf, vlan=spec.vlan)
