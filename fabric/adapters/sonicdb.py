"""Where SONiC's Redis databases are: `database_config.json`, or a socket with explicit ids.

On a switch, `/var/run/redis/sonic-db/database_config.json` names each Redis instance (hostname, port,
`unix_socket_path`) and each database (`id`, `separator`, `instance`): CONFIG_DB is 4 with `|`,
APPL_DB 0 with `:`, STATE_DB 6 with `|`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.errors import ValidationError


@dataclass(frozen=True)
class Database:
    """One logical SONiC database: its Redis db id, key separator and how to reach its instance."""

    name: str
    id: int
    separator: str
    unix_socket: str | None = None
    host: str = "127.0.0.1"
    port: int = 6379


@dataclass(frozen=True)
class DbLayout:
    """CONFIG_DB, APPL_DB and STATE_DB of one switch."""

    config: Database
    appl: Database
    state: Database

    @classmethod
    def on_socket(cls, socket: str, *, config_db: int = 4, appl_db: int = 0, state_db: int = 6) -> DbLayout:
        """The layout of a single Redis on a unix socket (the lab, or explicit configuration)."""
        return cls(
            config=Database("CONFIG_DB", config_db, "|", socket),
            appl=Database("APPL_DB", appl_db, ":", socket),
            state=Database("STATE_DB", state_db, "|", socket),
        )


def parse_database_config(data: Any, where: str = "database_config.json") -> DbLayout:
    """The layout described by a parsed `database_config.json`; raises `ValidationError` naming the path."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object", where)
    instances = data.get("INSTANCES")
    databases = data.get("DATABASES")
    if not isinstance(instances, dict) or not isinstance(databases, dict):
        raise ValidationError("needs INSTANCES and DATABASES objects", where)
    found = {}
    for name in ("CONFIG_DB", "APPL_DB", "STATE_DB"):
        found[name] = _database(name, databases.get(name), instances, f"{where}: DATABASES.{name}")
    return DbLayout(config=found["CONFIG_DB"], appl=found["APPL_DB"], state=found["STATE_DB"])


def _database(name: str, entry: Any, instances: dict[str, Any], where: str) -> Database:
    if not isinstance(entry, dict):
        raise ValidationError("missing", where)
    db_id, instance_name = entry.get("id"), entry.get("instance", "redis")
    if not isinstance(db_id, int) or not 0 <= db_id <= 15:
        raise ValidationError(f"id {db_id!r} is not a Redis database number", where)
    instance = instances.get(instance_name)
    if not isinstance(instance, dict):
        raise ValidationError(f"instance {instance_name!r} is not in INSTANCES", where)
    default_sep = ":" if name == "APPL_DB" else "|"
    return Database(
        name=name,
        id=db_id,
        separator=str(entry.get("separator", default_sep)),
        unix_socket=instance.get("unix_socket_path") or None,
        host=str(instance.get("hostname", "127.0.0.1")),
        port=int(instance.get("port", 6379)),
    )


def load_database_config(path: str | Path) -> DbLayout:
    """Read and parse a `database_config.json` file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from None
    return parse_database_config(data, str(path))
