"""CONFIG_DB checked against SONiC's YANG models (libyang 2.8.0 over Debian's libyang 2.1).

A CONFIG_DB key `TABLE|k1|k2` is an entry of the table's YANG list with as many keys; a few tables are
containers (`DEVICE_METADATA|localhost`).  libyang's JSON parser is strict, so CONFIG_DB's strings are
typed on the way in (integers and booleans where the model says so), `field@` leaf-lists become arrays
and `NULL` placeholder fields are dropped.  Tables without a model (e.g. `SUPPRESS_VLAN_NEIGH`) are
reported, not failed.

Models are read from `$SONIC_YANG_DIR` (a copy of SONiC's `sonic-yang-models`) or
`/usr/local/yang-models` (where a SONiC switch has them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fabric.core.tables import Tables

SWITCH_MODELS = Path("/usr/local/yang-models")
INTEGER_TYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})


def models_dir() -> Path | None:
    """The first folder of YANG models found, or None."""
    for c in (os.environ.get("SONIC_YANG_DIR", ""), str(SWITCH_MODELS)):
        if c and Path(c).is_dir() and any(Path(c).glob("sonic-*.yang")):
            return Path(c)
    return None


@dataclass(frozen=True)
class YangResult:
    """Outcome of one validation: `errors` name the data path; `unmodelled` tables were not checked."""

    ok: bool
    errors: tuple[str, ...] = ()
    unmodelled: tuple[str, ...] = ()


class ConfigDbSchema:
    """SONiC's models loaded once, indexed by CONFIG_DB table name."""

    def __init__(self, folder: Path) -> None:
        import libyang

        self._ly = libyang
        self.folder = folder
        self.ctx = libyang.Context(str(folder))
        names = sorted(p.stem for p in folder.glob("*.yang"))
        for name in names:  # every imported sonic-* module must be implemented for must/when
            self.ctx.load_module(name)
        self.tables: dict[str, tuple[str, str, Any]] = {}
        for name in names:
            module: Any = self.ctx.get_module(name)
            for top in module.children():
                for table in top.children():
                    if table.nodetype() == libyang.SNode.CONTAINER:
                        self.tables.setdefault(table.name(), (name, top.name(), table))

    def validate(self, configdb: Tables) -> YangResult:
        """Validate a whole CONFIG_DB (Redis form) against the models."""
        data: dict[str, dict[str, Any]] = {}
        unmodelled = []
        try:
            for table, keys in configdb.items():
                if table not in self.tables:
                    unmodelled.append(table)
                    continue
                module, top, node = self.tables[table]
                data.setdefault(f"{module}:{top}", {})[table] = self._table(table, node, keys)
        except ValueError as exc:
            return YangResult(False, (str(exc),), tuple(unmodelled))
        try:
            tree = self.ctx.parse_data_mem(json.dumps(data), "json", strict=True, validate_present=True)
        except self._ly.LibyangError as exc:
            return YangResult(False, (str(exc),), tuple(unmodelled))
        if tree is not None:
            tree.free()
        return YangResult(True, (), tuple(unmodelled))

    def _table(self, table: str, node: Any, keys: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        lists = [c for c in node.children() if c.nodetype() == self._ly.SNode.LIST]
        containers = {c.name(): c for c in node.children() if c.nodetype() == self._ly.SNode.CONTAINER}
        out: dict[str, Any] = {}
        for key, fields in keys.items():
            if key in containers:
                leaves = {c.name(): c for c in containers[key].children()}
                out[key] = self._fields(table, key, leaves, fields)
                continue
            parts = key.split("|")
            match = [lst for lst in lists if len(list(lst.keys())) == len(parts)]
            if not match:
                raise ValueError(f"{table}|{key}: the model has no list with {len(parts)} key(s)")
            lst = match[0]
            leaves = {c.name(): c for c in lst.children()}
            item = {k.name(): _typed(k, part) for k, part in zip(lst.keys(), parts, strict=True)}
            item.update(self._fields(table, key, leaves, fields))
            out.setdefault(lst.name(), []).append(item)
        return out

    @staticmethod
    def _fields(table: str, key: str, leaves: dict[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "NULL":
                continue
            leaf_name = name.rstrip("@")
            typed: Any = value.split(",") if name.endswith("@") else value
            out[leaf_name] = _typed(leaves[leaf_name], typed) if leaf_name in leaves else typed
        return out


def _basenames(leaf: Any) -> set[str]:
    import libyang

    kind = leaf.type()
    if kind.base() == libyang.Type.LEAFREF:
        kind = kind.leafref_type()
    return set(kind.basenames())


def _typed(leaf: Any, value: Any) -> Any:
    names = _basenames(leaf)

    def one(text: Any) -> Any:
        if isinstance(text, str) and names and names <= INTEGER_TYPES and text.lstrip("-").isdigit():
            return int(text)
        if isinstance(text, str) and names == {"boolean"}:
            return {"true": True, "false": False}.get(text.lower(), text)
        return text

    return [one(v) for v in value] if isinstance(value, list) else one(value)


@cache
def schema(folder: Path | None = None) -> ConfigDbSchema | None:
    """The models of `folder` (default: `models_dir()`), loaded once; None when there are none."""
    folder = folder or models_dir()
    return ConfigDbSchema(folder) if folder is not None else None
