"""`build_machine_frr(state, options)`: routing on the host, as data.

A machine speaks eBGP unnumbered to both leaves (peer group `TOR` over its NICs, `timers 2 8`, extended
next hop) and announces its own addresses and extra prefixes (`network` statements), nothing else: an
outbound route-map per family (`RM-ANNOUNCE-V4/V6` from `PL-ANNOUNCE-V4/V6`) keeps it from ever
becoming transit between its leaves.  A machine without a VRF (not allocated) runs no BGP.
"""

from __future__ import annotations

from fabric.core.frr_filters import filter_route_map, prefix_list
from fabric.core.frr_model import AddressFamily, Bgp, FrrConfig, FrrOptions, Neighbor, PeerAf, PeerGroup
from fabric.core.frr_switch import TIMERS
from fabric.model.machine import MachineState
from fabric.model.names import natural_key
from fabric.model.prefixes import AllowedPrefix

TOR = "TOR"


def build_machine_frr(state: MachineState, options: FrrOptions) -> FrrConfig:
    """The whole frr.conf of a machine as data; `options` is accepted for symmetry with switches."""
    if state.vrf is None:
        return FrrConfig(state.machine.name)
    allowed = [AllowedPrefix(prefix=net) for net in state.announce]
    lists, maps, afs = [], [], []
    for family, af in ((4, "ipv4 unicast"), (6, "ipv6 unicast")):
        plist = prefix_list(f"PL-ANNOUNCE-V{family}", family, allowed)
        route_map = filter_route_map(f"RM-ANNOUNCE-V{family}", family, plist)
        if plist is not None:
            lists.append(plist)
        maps.append(route_map)
        networks = tuple(str(n) for n in state.announce if n.version == family)
        peer = PeerAf(TOR, activate=family == 6, route_map_out=route_map.name)
        afs.append(AddressFamily(af, networks=networks, peers=(peer,)))
    bgp = Bgp(
        state.machine.asn,
        str(state.machine.router_id),
        None,
        (PeerGroup(TOR, TIMERS),),
        tuple(Neighbor(nic, TOR) for nic in sorted(state.uplinks, key=natural_key)),
        tuple(afs),
    )
    return FrrConfig(state.machine.name, (), (bgp,), tuple(lists), tuple(maps))
