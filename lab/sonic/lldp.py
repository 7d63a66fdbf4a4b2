"""lldpd's neighbours (`lldpctl -f json0`) as SONiC's APPL_DB `LLDP_ENTRY_TABLE` entries, like
SONiC's lldp_syncd writes them, and how long a neighbour lldpd lost sight of is kept (`LldpHold`).  Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# LLDP (IEEE 802.1AB) subtype numbers, as SONiC stores them: chassis ID and port ID subtypes differ.
CHASSIS_SUBTYPE = {"ifalias": "1", "ip": "5", "mac": "4", "ifname": "6", "local": "7"}
PORT_SUBTYPE = {"ifalias": "1", "mac": "3", "ip": "4", "ifname": "5", "local": "7"}
# A port's last neighbour stays this long after lldpd stopped showing it (SONiC's lldpd keeps it for the
# neighbour's TTL, 120 s by default).  In the lab lldpd forgets a port's neighbour whenever the port
# moves between namespaces or leaves a bridge, and hears it again a second or two later: without the
# hold, a freed machine's port had no cabling in the API for ~2.5 s and the next allocation waited.
LLDP_HOLD_S = 10.0


def _first(items: Any, key: str = "value") -> str:
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return str(items[0].get(key, ""))
    return ""


def lldp_entries(lldpctl_json0: dict[str, Any]) -> dict[str, dict[str, str]]:
    """`{port: LLDP_ENTRY_TABLE fields}` from lldpctl's json0 output (one neighbour per port: the first)."""
    entries: dict[str, dict[str, str]] = {}
    for block in lldpctl_json0.get("lldp", []):
        for interface in block.get("interface", []):
            port = interface.get("name")
            if not port or port in entries:
                continue
            chassis = (interface.get("chassis") or [{}])[0]
            remote_port = (interface.get("port") or [{}])[0]
            fields = {
                "lldp_rem_index": str(interface.get("rid", "")),
                "lldp_rem_chassis_id_subtype": CHASSIS_SUBTYPE.get(_first(chassis.get("id"), "type"), "7"),
                "lldp_rem_chassis_id": _first(chassis.get("id")),
                "lldp_rem_sys_name": _first(chassis.get("name")),
                "lldp_rem_sys_desc": _first(chassis.get("descr")),
                "lldp_rem_man_addr": _first(chassis.get("mgmt-ip")),
                "lldp_rem_port_id_subtype": PORT_SUBTYPE.get(_first(remote_port.get("id"), "type"), "7"),
                "lldp_rem_port_id": _first(remote_port.get("id")),
                "lldp_rem_port_desc": _first(remote_port.get("descr")),
            }
            entries[port] = {k: v for k, v in fields.items() if v}
    return entries


@dataclass
class LldpHold:
    """The entries to publish: what lldpd shows, plus each port's last neighbour when lldpd does not
    show it: indefinitely while the port sits in a VRF namespace (out of lldpd's sight; a kernel VRF
    would not move it), else for `hold` seconds after it was last heard."""

    hold: float = LLDP_HOLD_S
    last: dict[str, tuple[dict[str, str], float]] = field(default_factory=dict)  # port -> entry, when

    def entries(
        self, heard: dict[str, dict[str, str]], in_vrf: set[str], now: float
    ) -> dict[str, dict[str, str]]:
        """`heard` (lldpd now) with the held neighbours of the ports it lacks; `now` is monotonic."""
        out = dict(heard)
        for port, fields in heard.items():
            self.last[port] = (fields, now)
        for port, (fields, when) in list(self.last.items()):
            if port in heard:
                continue
            if port in in_vrf:
                self.last[port] = (fields, now)  # heard by proxy: the hold starts when it moves back
            elif now - when >= self.hold:
                del self.last[port]
                continue
            out[port] = fields
        return out
