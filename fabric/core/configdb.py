"""CONFIG_DB as data: the keys a switch's `SwitchState` asks for (docs/concepts.md#sonic).

`build_configdb(state, observed)` returns `{"TABLE": {"key": {"field": "value"}}}`, all strings, in
Redis form (a leaf-list is one `field@` value joined by commas).  It holds only keys and fields the
daemon owns (`fabric.core.ownership`); the switch's base config (PORT lanes, loopbacks, the VTEP) is
the switch's own.
"""

from __future__ import annotations

from fabric.core.observed import Observed
from fabric.core.tables import WRITTEN_TABLES, Tables
from fabric.core.vlans import assign_vlans, check_preconditions
from fabric.model.switch import Port, SwitchState

TABLE_ORDER = WRITTEN_TABLES
"""Dependency order of the tables the daemon writes: adds go forward, deletes backward."""


def build_configdb(state: SwitchState, observed: Observed) -> Tables:
    """The owned CONFIG_DB keys `state` asks for, given what the switch holds (its VLAN map, VTEP name).

    Raises `ApplyError` (retryable) when tenant VRFs are asked for but the VTEP or loopback is missing,
    and `AllocationError` when `vlan_range` has no VLAN left for a new VRF.
    """
    db: Tables = {table: {} for table in TABLE_ORDER}
    if state.is_leaf:
        check_preconditions(state, observed)
        _vrfs(state, observed, db)
        _pxe_vlan(state, db)
    for port in state.ports:
        _port(state, port, db)
    return {table: keys for table, keys in db.items() if keys}


def _vrfs(state: SwitchState, observed: Observed, db: Tables) -> None:
    vlans = assign_vlans(state, observed)
    tunnel = observed.tunnel
    for vrf in state.vrfs:
        vlan = f"Vlan{vlans[vrf.vni]}"
        db["VRF"][vrf.name] = {"vni": str(vrf.vni)}
        db["VLAN"][vlan] = {"vlanid": str(vlans[vrf.vni])}
        db["SUPPRESS_VLAN_NEIGH"][vlan] = {"suppress": "on"}
        db["VLAN_INTERFACE"][vlan] = {"vrf_name": vrf.name}
        db["VXLAN_TUNNEL_MAP"][f"{tunnel}|map_{vrf.vni}_{vlan}"] = {"vlan": vlan, "vni": str(vrf.vni)}


def _pxe_vlan(state: SwitchState, db: Tables) -> None:
    if state.pxe_vlan is None:
        return
    fields = {"vlanid": str(state.pxe_vlan)}
    if state.dhcp_relay:
        fields["dhcp_servers@"] = ",".join(str(a) for a in state.dhcp_relay)
    db["VLAN"][f"Vlan{state.pxe_vlan}"] = fields


def _port(state: SwitchState, port: Port, db: Tables) -> None:
    db["PORT"][port.name] = {"admin_status": port.admin, "mtu": str(port.mtu)}
    if port.role in ("uplink", "firewall", "exit"):
        db["INTERFACE"][port.name] = {"ipv6_use_link_local_only": "enable"}
    elif port.role == "machine":
        assert port.vrf is not None  # the model requires it for machine ports
        db["INTERFACE"][port.name] = {"ipv6_use_link_local_only": "enable", "vrf_name": port.vrf}
    elif port.role == "unprovisioned" and state.pxe_vlan is not None:
        db["VLAN_MEMBER"][f"Vlan{state.pxe_vlan}|{port.name}"] = {"tagging_mode": "untagged"}


def merge_configdb(base: Tables, owned: Tables) -> Tables:
    """`base` with the owned keys laid over it (fields of an existing key are updated, as HSET does)."""
    out: Tables = {table: {key: dict(fields) for key, fields in keys.items()} for table, keys in base.items()}
    for table, keys in owned.items():
        for key, fields in keys.items():
            out.setdefault(table, {}).setdefault(key, {}).update(fields)
    return out
