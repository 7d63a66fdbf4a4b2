"""Router-MAC neighbours of EVPN type-5 routes in VRF namespaces: what zebra's netns VRF backend loses.

A tenant VRF's route learned from EVPN points at a remote VTEP through the L3VNI's bridge (SVI),
`onlink`; the kernel forwards it only with a neighbour entry for that VTEP holding its router MAC (zebra
installs it: `extern_learn`, NOARP).  When such a route's path changes, FRR 8.4's netns VRF backend at
times drops the entry together with zebra's own EVPN next hop: the route stays, the neighbour turns
INCOMPLETE and traffic through it stops.  On a switch SONiC programs these entries from zebra through
FPM; in the lab a re-bind of the L3VNI (its VXLAN device down, then up) makes bgpd and zebra install
them again.  Lab code only.
"""

from __future__ import annotations

import json

from lab.sonic.kernel import Kernel

BROKEN = frozenset({"INCOMPLETE", "FAILED"})


def missing_router_macs(kernel: Kernel, vrf: str, svi: str) -> list[str]:
    """Gateways of VRF `vrf`'s routes through `svi` that have no usable neighbour entry there."""
    gateways: set[str] = set()
    for family in ("-4", "-6"):
        result = kernel.run(vrf, "ip", family, "-j", "route", "show")
        for route in json.loads(result.stdout or "[]") if result.ok else []:
            hops = route.get("nexthops") or [route]
            gateways |= {h["gateway"] for h in hops if h.get("dev") == svi and h.get("gateway")}
    if not gateways:
        return []
    result = kernel.run(vrf, "ip", "-j", "neigh", "show", "dev", svi)
    usable = {
        n["dst"]
        for n in (json.loads(result.stdout or "[]") if result.ok else [])
        if n.get("lladdr") and not BROKEN & set(n.get("state") or [])
    }
    return sorted(gateways - usable)
