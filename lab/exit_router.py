"""The lab's exit router (a node with role `exit`) and the internet behind it.  Lab code, not product.

An exit router is not ours: it is the operator's border, which runs no fabric daemon.  The product's
side of it is the switches' peering, declared in the store (`switches[].exits`, from `lab.intent`) and
rendered and applied by the switch daemons like the rest of their configuration.  This module builds
the other side, as a border router of an operator would be configured:

- FRR in the exit's namespace: BGP unnumbered on every port cabled to a switch, the loopback (its VTEP)
  announced, EVPN with `advertise-all-vni`;
- one VRF for the internet network's L3VNI, in FRR's netns VRF backend: a namespace holding the VNI's
  bridge and VXLAN device (made in the exit's namespace, its underlay) and the link to the internet
  host; it announces the default routes (IPv4, IPv6) and the internet's prefixes as EVPN type-5 routes;
- the "internet" host: a namespace reachable only through the exit, with documentation addresses;
- a watcher (``python -m lab.exit_router``) re-binding the L3VNI when zebra's netns backend lost a
  router MAC, as the leaves' SONiC stand-in does (`lab.sonic.rmac`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fabric.adapters.process import run_checked
from lab.addressing import ExitIdentity
from lab.rig import FrrInstance, Netns, Rig
from lab.rig.daemon import start_daemon
from lab.rig.netns import ROUTER_SYSCTLS, NetnsDir
from lab.sonic.kernel import Kernel
from lab.sonic.rmac import missing_router_macs
from lab.sonic.standin import RMAC_CHECK_S, RMAC_GRACE_S

INTERNET_HOST = "internet"  # the host's node name (namespace `<prefix>-internet`)
INTERNET_NET = ("198.51.100.0/24", "2001:db8:ff::/64")
INTERNET_GATEWAY = ("198.51.100.1", "2001:db8:ff::1")
INTERNET_ADDRESSES = ("198.51.100.10", "2001:db8:ff::10")
FRR_NETNS_DIR = "/run/netns"  # where FRR sees the VRF namespaces (its private mount of the VRF directory)
EXIT_MAC = "02:fa:00:02:00:01"  # the exit's router MAC (its VRF bridge), fixed as a switch's is


@dataclass(frozen=True)
class ExitRouter:
    """What `build` made: the exit's FRR, its VRF (namespace under `vrf_dir`), the internet host."""

    identity: ExitIdentity
    frr: FrrInstance
    vrf: str
    vrf_dir: Path
    host: Netns


def frr_config(me: ExitIdentity, ports: list[str], vni: int, vrf_dir: str) -> str:
    """The exit router's frr.conf: underlay and EVPN towards the fabric, the internet VRF."""
    neighbours = "".join(f" neighbor {port} interface peer-group FABRIC\n" for port in ports)
    vrf = f"Vrf{vni}"
    return f"""frr defaults datacenter
hostname {me.name}
service integrated-vtysh-config
!
vrf {vrf}
 vni {vni}
 netns {vrf_dir}/{vrf}
exit-vrf
!
router bgp {me.asn}
 bgp router-id {me.loopback}
 no bgp ebgp-requires-policy
 neighbor FABRIC peer-group
 neighbor FABRIC remote-as external
 neighbor FABRIC capability extended-nexthop
{neighbours} !
 address-family ipv4 unicast
  network {me.loopback}/32
 exit-address-family
 !
 address-family l2vpn evpn
  neighbor FABRIC activate
  advertise-all-vni
 exit-address-family
exit
!
router bgp {me.asn} vrf {vrf}
 bgp router-id {me.loopback}
 no bgp ebgp-requires-policy
 !
 address-family ipv4 unicast
  redistribute connected
 exit-address-family
 !
 address-family ipv6 unicast
  redistribute connected
 exit-address-family
 !
 address-family l2vpn evpn
  advertise ipv4 unicast
  advertise ipv6 unicast
  default-originate ipv4
  default-originate ipv6
 exit-address-family
exit
!
"""


def build(rig: Rig, ns: Netns, me: ExitIdentity, ports: list[str], vni: int) -> ExitRouter:
    """The exit router in `ns` (cabled on `ports`) routing the internet network's L3VNI `vni`."""
    vrf = f"Vrf{vni}"
    ns.ip("addr", "add", f"{me.loopback}/32", "dev", "lo")
    vrf_dir = rig.netns_dir(me.name)
    vrf_dir.add(vrf)
    _router_sysctls(vrf_dir, vrf)
    kernel = Kernel(ns.name, vrf_dir.path)
    bridge = f"br{vni}"
    kernel.add_bridge(vrf, bridge, EXIT_MAC)
    kernel.add_vxlan(f"vx{vni}", vni, me.loopback, vrf, bridge)
    host = rig.netns(INTERNET_HOST, router=False)
    _internet_link(kernel, vrf, host)
    frr = rig.frr(ns, me.name, netns_vrf=True, netns_dir=vrf_dir, start=False)
    frr.start(frr_config(me, ports, vni, FRR_NETNS_DIR))
    argv = [sys.executable, "-m", "lab.exit_router", ns.name, str(vrf_dir.path), vrf, bridge, f"vx{vni}"]
    log = rig.tempdir(f"exit-{me.name}") / "router-macs.log"
    start_daemon(rig.ledger, argv, what=f"router-macs@{me.name}", log_path=log)
    return ExitRouter(me, frr, vrf, vrf_dir.path, host)


def keep_router_macs(kernel: Kernel, vrf: str, svi: str, vxlan: str) -> None:
    """Forever: re-bind the internet VRF's L3VNI when a route lost its router MAC (`lab.sonic.rmac`)."""
    while True:
        time.sleep(RMAC_CHECK_S)
        missing = missing_router_macs(kernel, vrf, svi)
        if missing:
            print(f"{vrf} routes through {missing} without a router MAC: re-binding {vxlan}", flush=True)
            kernel.run(vrf, "ip", "link", "set", vxlan, "down")
            time.sleep(1.0)  # bgpd's withdraw and re-import must not coalesce in zebra
            kernel.run(vrf, "ip", "link", "set", vxlan, "up")
            time.sleep(RMAC_GRACE_S)


def _router_sysctls(vrf_dir: NetnsDir, vrf: str) -> None:
    run_checked(
        ["nsenter", f"--net={vrf_dir.path / vrf}", "sysctl", "-q", "-w", *ROUTER_SYSCTLS],
        phase=f"lab:exit {vrf}",
        timeout=10,
    )


def _internet_link(kernel: Kernel, vrf: str, host: Netns) -> None:
    """A veth from the exit's VRF namespace (`inet0`, the gateway) to the internet host (`eth0`)."""
    host.ip("link", "add", "eth0", "type", "veth", "peer", "name", "inet0")
    host.ip("link", "set", "inet0", "netns", kernel.ns_path(vrf))
    for gateway, address, net in zip(INTERNET_GATEWAY, INTERNET_ADDRESSES, INTERNET_NET, strict=True):
        length = net.split("/")[1]
        kernel.ip(vrf, "addr", "add", f"{gateway}/{length}", "dev", "inet0", "nodad")
        host.ip("addr", "add", f"{address}/{length}", "dev", "eth0", "nodad")
    kernel.ip(vrf, "link", "set", "inet0", "up")
    host.ip("link", "set", "eth0", "up")
    host.ip("route", "add", "default", "via", INTERNET_GATEWAY[0])
    host.ip("-6", "route", "add", "default", "via", INTERNET_GATEWAY[1])


if __name__ == "__main__":
    namespace, vrf_dir, vrf_name, svi_name, vxlan_name = sys.argv[1:]
    keep_router_macs(Kernel(namespace, Path(vrf_dir)), vrf_name, svi_name, vxlan_name)
