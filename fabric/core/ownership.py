"""Which CONFIG_DB keys and fields the switch daemon owns, derived from rules (docs/concepts.md#sonic).

Rules, not a record of what was written, so a daemon restarted after a crash still knows:

- `VRF|Vrf<vni>` with the VNI in `vni_range`;
- `VLAN`, `SUPPRESS_VLAN_NEIGH`, `VLAN_INTERFACE` single-part keys `Vlan<id>` with the id in `vlan_range`;
- `VXLAN_TUNNEL_MAP|<tunnel>|map_<vni>_Vlan<id>` with the VNI in `vni_range` or the VLAN in `vlan_range`;
- `INTERFACE|<port>` (single-part key) and `VLAN_MEMBER|Vlan<id>|<port>` (id in `vlan_range` or the
  PXE VLAN) of ports named in the `SwitchState`;
- only *fields* of `PORT|<port>` (`mtu`, `admin_status`) and of the PXE VLAN (`vlanid`, `dhcp_servers@`):
  those keys belong to the switch's base config and are never deleted.

Everything else (the PORT table's other fields, loopbacks, the VTEP, other VLANs, IP keys such as
`INTERFACE|Ethernet0|10.0.0.1/31`) is never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fabric.model.switch import SwitchState

FIELD_OWNED: dict[str, tuple[str, ...]] = {
    "PORT": ("admin_status", "mtu"),
    "VLAN": ("dhcp_servers@", "vlanid"),  # the PXE VLAN only; tenant VLANs are owned whole
}

_VRF = re.compile(r"^Vrf(\d+)$")
_VLAN = re.compile(r"^Vlan(\d+)$")
_MAP = re.compile(r"^[^|]+\|map_(\d+)_Vlan(\d+)$")


@dataclass(frozen=True)
class Ownership:
    """The ownership rules of one switch, evaluated on keys."""

    vni_range: tuple[int, int] | None
    vlan_range: tuple[int, int] | None
    pxe_vlan: int | None
    ports: frozenset[str]

    @classmethod
    def of(cls, state: SwitchState) -> Ownership:
        """The rules that follow from `state`."""
        vnis = state.vni_range
        vlans = state.vlan_range
        return cls(
            vni_range=(vnis.first, vnis.last) if vnis else None,
            vlan_range=(vlans.first, vlans.last) if vlans else None,
            pxe_vlan=state.pxe_vlan,
            ports=frozenset(p.name for p in state.ports),
        )

    def owns(self, table: str, key: str) -> bool:
        """Whether the daemon manages `table|key` at all (whole key or some fields)."""
        rule = _RULES.get(table)
        return rule is not None and rule(self, key)

    def field_owned(self, table: str, key: str) -> tuple[str, ...] | None:
        """The owned fields when only some fields of `table|key` are ours; None when the key is ours."""
        if table == "PORT":
            return FIELD_OWNED["PORT"]
        if table == "VLAN" and key == f"Vlan{self.pxe_vlan}":
            return FIELD_OWNED["VLAN"]
        return None

    def _vni(self, vni: int) -> bool:
        return self.vni_range is not None and self.vni_range[0] <= vni <= self.vni_range[1]

    def _vlan(self, vlan: int) -> bool:
        return self.vlan_range is not None and self.vlan_range[0] <= vlan <= self.vlan_range[1]

    def _vrf_key(self, key: str) -> bool:
        match = _VRF.match(key)
        return match is not None and self._vni(int(match.group(1)))

    def _vlan_key(self, key: str) -> bool:
        match = _VLAN.match(key)
        return match is not None and self._vlan(int(match.group(1)))

    def _vlan_table_key(self, key: str) -> bool:
        return self._vlan_key(key) or (self.pxe_vlan is not None and key == f"Vlan{self.pxe_vlan}")

    def _map_key(self, key: str) -> bool:
        match = _MAP.match(key)
        return match is not None and (self._vni(int(match.group(1))) or self._vlan(int(match.group(2))))

    def _port_key(self, key: str) -> bool:
        return key in self.ports

    def _member_key(self, key: str) -> bool:
        vlan, _, port = key.partition("|")
        return port in self.ports and self._vlan_table_key(vlan)


_RULES = {
    "VRF": Ownership._vrf_key,
    "VLAN": Ownership._vlan_table_key,
    "SUPPRESS_VLAN_NEIGH": Ownership._vlan_key,
    "VLAN_INTERFACE": Ownership._vlan_key,
    "VXLAN_TUNNEL_MAP": Ownership._map_key,
    "INTERFACE": Ownership._port_key,
    "VLAN_MEMBER": Ownership._member_key,
    "PORT": Ownership._port_key,
}
