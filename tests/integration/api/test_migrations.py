"""The migrations build exactly the schema the models declare, on SQLite and on PostgreSQL: Alembic's
own comparison of the migrated database with `Base.metadata` finds nothing to change (a column type
changed in the models without a migration, or the other way round, fails here)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fabric.adapters.store.engine import Database
from fabric.adapters.store.schema import Base


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_the_migrated_schema_is_the_models(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path}/fabric.db"
    else:
        url = request.getfixturevalue("postgres").createdb(f"m_{secrets.token_hex(4)}")
    db = Database(url)
    try:
        await db.migrate()
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await db.close()
    assert differences == []
