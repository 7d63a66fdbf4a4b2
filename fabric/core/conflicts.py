"""Keys on a switch that fabric does not own but that its plan would break: refused before anything
is written (a half-removed object is never the answer).

SONiC's YANG models tie keys together: an address key `INTERFACE|Ethernet0|10.0.0.1/31` needs its port's
`INTERFACE|Ethernet0`; a `VLAN_MEMBER` or `VLAN_INTERFACE|Vlan1005|<address>` needs its `VLAN`; a field
`vrf_name` needs its `VRF`; a port is either routed, a VLAN member or a PortChannel member.  Fabric
owns keys by rule (`fabric.core.ownership`); where an owned key it changes or deletes has such foreign
companions, or a port the document uses is in use otherwise, the plan stops with every conflicting key:

- a port the document names that is a PortChannel member, or a member of a VLAN fabric does not own;
- a port with addresses configured outside fabric (`INTERFACE|<port>|<address>`) that the document
  does not keep routed in the default VRF (an uplink, exit or firewall port): moving it into a tenant
  VRF, the PXE VLAN, or leaving it unused would strand or move those addresses;
- an owned VLAN the plan deletes that still has foreign members or addresses;
- an owned VRF the plan deletes that a foreign key still names in `vrf_name`.
"""

from __future__ import annotations

from collections.abc import Iterator

from fabric.core.observed import Observed
from fabric.core.ownership import Ownership
from fabric.core.tables import Tables
from fabric.errors import ApplyError
from fabric.model.names import natural_key


def check_foreign_keys(switch: str, want: Tables, ownership: Ownership, observed: Observed) -> None:
    """Raise `ApplyError` (phase `configdb:preconditions`, retried: fixing the switch unblocks it) naming
    every foreign key the plan from `observed` to `want` would conflict with."""
    conflicts = set(_port_conflicts(want, ownership, observed)) | set(_orphans(want, ownership, observed))
    found = sorted(conflicts, key=natural_key)
    if found:
        raise ApplyError(
            f"switch {switch}: keys fabric does not own stand in the way, nothing was written: "
            + "; ".join(found),
            retryable=True,
            phase="configdb:preconditions",
        )


def _port_conflicts(want: Tables, ownership: Ownership, observed: Observed) -> Iterator[str]:
    db = observed.configdb
    for key in db.get("PORTCHANNEL_MEMBER", {}):
        channel, _, port = key.partition("|")
        if port in ownership.ports:
            yield f"port {port} is a member of {channel} (PORTCHANNEL_MEMBER|{key})"
    for key in db.get("VLAN_MEMBER", {}):
        vlan, _, port = key.partition("|")
        if port in ownership.ports and not ownership.owns("VLAN_MEMBER", key):
            yield f"port {port} is a member of {vlan}, which fabric does not own (VLAN_MEMBER|{key})"
    for key in db.get("INTERFACE", {}):
        port, sep, _ = key.partition("|")
        if not sep or port not in ownership.ports:
            continue
        routed = want.get("INTERFACE", {}).get(port)
        if routed is None or "vrf_name" in routed:
            yield f"port {port} has an address configured outside fabric (INTERFACE|{key})"


def _orphans(want: Tables, ownership: Ownership, observed: Observed) -> Iterator[str]:
    db = observed.configdb
    gone_vlans = {
        k for k in db.get("VLAN", {}) if ownership.owns("VLAN", k) and k not in want.get("VLAN", {})
    }
    for table in ("VLAN_MEMBER", "VLAN_INTERFACE"):
        for key in db.get(table, {}):
            vlan, sep, _ = key.partition("|")
            if sep and vlan in gone_vlans and not ownership.owns(table, key):
                yield f"{vlan} is to be removed but {table}|{key} still uses it"
    gone_vrfs = {k for k in db.get("VRF", {}) if ownership.owns("VRF", k) and k not in want.get("VRF", {})}
    for table in ("INTERFACE", "VLAN_INTERFACE"):
        for key, fields in db.get(table, {}).items():
            vrf = fields.get("vrf_name")
            if vrf in gone_vrfs and not ownership.owns(table, key):
                yield f"{vrf} is to be removed but {table}|{key} is in it"
