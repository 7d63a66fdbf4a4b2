"""Local VLAN <-> VNI assignment of a leaf's L3VNIs.

The map is local to the switch: an existing mapping (read back from `VXLAN_TUNNEL_MAP`) is reused, a
new VRF takes the lowest VLAN of `vlan_range` that nothing on the switch uses.  VLANs that are in use
now are never handed out again in the same plan, so a VLAN is not deleted and re-created in one sync.
"""

from __future__ import annotations

from fabric.core.observed import Observed
from fabric.errors import AllocationError, ApplyError
from fabric.model.switch import SwitchState


def check_preconditions(state: SwitchState, observed: Observed) -> None:
    """Refuse to allocate when the VTEP or loopback is missing (metal-core leaks VLANs that way)."""
    if not state.vrfs:
        return
    missing = [
        what
        for what, present in (
            ("VXLAN_TUNNEL", observed.tunnel is not None),
            ("VXLAN_EVPN_NVO", observed.has_evpn_nvo),
            ("LOOPBACK_INTERFACE", observed.has_loopback),
        )
        if not present
    ]
    if missing:
        raise ApplyError(
            f"switch {state.switch.name} has tenant VRFs but CONFIG_DB lacks {', '.join(missing)}",
            retryable=True,
            phase="configdb:preconditions",
        )


def assign_vlans(state: SwitchState, observed: Observed) -> dict[int, int]:
    """VNI -> local VLAN id for every VRF of `state`; raise `AllocationError` when the range is full."""
    if not state.vrfs:
        return {}
    assert state.vlan_range is not None  # the model requires it when vrfs are present
    first, last = state.vlan_range.first, state.vlan_range.last
    existing = observed.vlan_map()
    wanted = {vrf.vni for vrf in state.vrfs}
    out = {vni: vlan for vni, vlan in existing.items() if vni in wanted and first <= vlan <= last}
    used = set(existing.values()) | _vlans_in_use(observed) | set(out.values())
    free = (v for v in range(first, last + 1) if v not in used)
    for vrf in state.vrfs:
        if vrf.vni in out:
            continue
        vlan = next(free, None)
        if vlan is None:
            missing = sum(1 for v in state.vrfs if v.vni not in out)
            raise AllocationError(
                f"switch {state.switch.name}: vlan_range {state.vlan_range} ({state.vlan_range.size} "
                f"VLANs) has no free VLAN for {vrf.name}; {missing} VRF(s) still need one",
                pool=f"{state.switch.name}/vlan_range {state.vlan_range}",
                size=state.vlan_range.size,
            )
        out[vrf.vni] = vlan
    return dict(sorted(out.items()))


def _vlans_in_use(observed: Observed) -> set[int]:
    used: set[int] = set()
    for key in observed.configdb.get("VLAN", {}):
        name = key.removeprefix("Vlan")
        if name.isdigit():
            used.add(int(name))
    return used
