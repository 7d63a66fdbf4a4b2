"""`Observed`: what the switch daemon reads back from its switch before planning.

The daemon builds it from Redis (CONFIG_DB) and from the frr.conf it last applied; `fabric render
--observed CONFIG_DB.json` builds it from a file.  It is plain data: the planner never asks the device.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fabric.core.tables import READ_TABLES, Tables
from fabric.errors import ValidationError

PLACEHOLDER = "NULL"
"""SONiC's placeholder field (``NULL`` = ``NULL``) of a key without fields: Redis has no empty hash."""

_MAP_KEY = re.compile(r"^map_(\d+)_Vlan(\d+)$")


@dataclass(frozen=True)
class Observed:
    """CONFIG_DB as the switch holds it, plus the FRR config last applied (None: unknown)."""

    configdb: Tables = field(default_factory=dict)
    frr: str | None = None
    placeholders: frozenset[tuple[str, str]] = frozenset()
    """`(table, key)` of keys read with the `PLACEHOLDER` field beside other fields (hidden in `configdb`)."""

    @classmethod
    def from_configdb(cls, data: Any, frr: str | None = None) -> Observed:
        """Validate a parsed config_db.json (Redis form or `sonic-cfggen` form with lists)."""
        tables = normalise_tables(data)
        held = frozenset(
            (table, key)
            for table, keys in tables.items()
            for key, fields in keys.items()
            if fields and PLACEHOLDER in data[table][key]
        )
        return cls(configdb=tables, frr=frr, placeholders=held)

    def holds_placeholder(self, table: str, key: str) -> bool:
        """Whether `table|key` holds the `PLACEHOLDER` field: a key without fields always does."""
        fields = self.fields(table, key)
        return fields is not None and (not fields or (table, key) in self.placeholders)

    @property
    def tunnel(self) -> str | None:
        """Name of the switch's `VXLAN_TUNNEL` entry (the VTEP), or None when it has none."""
        names = sorted(self.configdb.get("VXLAN_TUNNEL", {}))
        return names[0] if names else None

    @property
    def has_evpn_nvo(self) -> bool:
        """Whether `VXLAN_EVPN_NVO` exists (EVPN control plane bound to the VTEP)."""
        return bool(self.configdb.get("VXLAN_EVPN_NVO"))

    @property
    def has_loopback(self) -> bool:
        """Whether `LOOPBACK_INTERFACE` holds an address (the VTEP's source)."""
        return any("|" in key for key in self.configdb.get("LOOPBACK_INTERFACE", {}))

    def vlan_map(self) -> dict[int, int]:
        """The switch's existing VNI -> VLAN id map, read from `VXLAN_TUNNEL_MAP`."""
        found: dict[int, int] = {}
        for key, fields in self.configdb.get("VXLAN_TUNNEL_MAP", {}).items():
            match = _MAP_KEY.match(key.rpartition("|")[2])
            if match is None:
                continue
            vni = int(fields.get("vni", match.group(1)))
            vlan = fields.get("vlan", f"Vlan{match.group(2)}").removeprefix("Vlan")
            if vlan.isdigit():
                found[vni] = int(vlan)
        return found

    def fields(self, table: str, key: str) -> Mapping[str, str] | None:
        """The fields of `table|key`, or None when the key does not exist."""
        return self.configdb.get(table, {}).get(key)


def normalise_tables(data: Any) -> Tables:
    """A config_db.json (Redis form, or `sonic-cfggen`'s with lists and typed values) as Redis holds it.

    Values become strings the way SONiC's own loader writes them (`ConfigDBConnector`: `str(value)`, so
    `0`, `true` and `1.5` are `"0"`, `"True"`, `"1.5"`; a list is a `field@` value joined by commas).  A
    table or key that is not an object is refused only in a table the switch daemon reads
    (`READ_TABLES`); elsewhere it is left out: fabric never refuses a file over a table it does not use.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("CONFIG_DB must be an object of tables", "$")
    out: Tables = {}
    for table, keys in data.items():
        read = table in READ_TABLES
        if not isinstance(keys, Mapping):
            if read:
                raise ValidationError("a table must be an object of keys", f"{table}")
            continue
        out[table] = {}
        for key, fields in keys.items():
            if not isinstance(fields, Mapping):
                if read:
                    raise ValidationError("a key must be an object of fields", f"{table}|{key}")
                continue
            out[table][key] = dict(_field(n, v) for n, v in fields.items() if n != PLACEHOLDER)
    return out


def _field(name: str, value: Any) -> tuple[str, str]:
    if isinstance(value, list):
        return name.rstrip("@") + "@", ",".join(map(str, value))
    return name, value if isinstance(value, str) else str(value)
