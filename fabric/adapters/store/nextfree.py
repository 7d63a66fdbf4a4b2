"""The next free address in ONE statement: the hot path of `POST /v1/ips`.

`INSERT INTO ips … SELECT … RETURNING` reads the network, its prefix of the asked family and that
prefix's lowest free span through their indexes and inserts the span's first address; the trigger
`ips_take_span` (migration 0003) shrinks or drops that span in the same statement.  SQLite transactions
are serialised (BEGIN IMMEDIATE), so nothing can race it there.  On PostgreSQL the statement locks the
pool row `SKIP LOCKED`: a pool another transaction holds yields no row, and the caller falls back to the
locking path of `fabric.adapters.store.pools`; in the narrow window where a concurrent acquire committed
after this statement's snapshot was taken, `UNIQUE (pool_id, key)` refuses the duplicate and the whole
intent is retried (`Retry`).  A network that is missing, a super network, a given address or an
exhausted prefix also yield no row: the caller's general path then answers with the precise error.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store.engine import Retry
from fabric.adapters.store.schema import Ip

_COLUMNS = "address, pool_id, key, network, project, machine, kind, name"
_SELECT = f"""
INSERT INTO ips ({_COLUMNS})
SELECT fabric_address(f.first, p.family), p.pool_id, f.first, n.name, n.project, :machine, :kind, :name
FROM networks n
JOIN prefixes p ON p.network = n.name AND p.family = :family
JOIN pools pl ON pl.id = p.pool_id
JOIN free_ranges f ON f.pool_id = p.pool_id
 AND f.first = (SELECT min(x.first) FROM free_ranges x WHERE x.pool_id = p.pool_id)
WHERE n.name = :network AND n.kind <> 'super'
ORDER BY p.cidr
LIMIT 1
{{lock}}
RETURNING {_COLUMNS}
"""
SQLITE = text(_SELECT.format(lock=""))
POSTGRESQL = text(_SELECT.format(lock="FOR UPDATE OF pl SKIP LOCKED"))


async def acquire_next(
    session: AsyncSession, network: str, family: int, *, machine: str | None, kind: str, name: str
) -> Ip | None:
    """Insert the lowest free address of `network` (family 4 or 6); None when the fast path cannot
    (the caller's general path decides then).  The project is the network's owner."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    params = {"network": network, "family": family, "machine": machine, "kind": kind, "name": name}
    try:
        row = (await session.execute(SQLITE if sqlite else POSTGRESQL, params)).first()
    except IntegrityError as exc:
        if sqlite:
            raise
        raise Retry(f"next free address of {network} taken concurrently") from exc
    return Ip(**row._asdict()) if row is not None else None
