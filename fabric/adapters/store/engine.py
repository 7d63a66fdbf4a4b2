"""Engine set-up: SQLite (WAL, synchronous=FULL) by default, PostgreSQL (asyncpg) for replicas.

`transaction()` is the one way an intent writes: SQLite transactions begin IMMEDIATE (the writer lock
is taken up front, so two writers never deadlock upgrading a read lock); PostgreSQL transactions that
lose a deadlock or a serialisation race are retried from the start, so an intent is all-or-nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from fabric.core.ipam import key, unkey

MIGRATIONS = Path(__file__).parent / "migrations"
RETRIES = 8
READ_ONLY = "fabric_read_only"  # execution option of the connections `Database.read` uses
T = TypeVar("T")


class Retry(Exception):
    """Raised inside an intent that lost a race the database detected: `transaction` runs it again."""


def normalise_url(url: str) -> str:
    """Accept `sqlite:///x.db`, a bare path, or `postgresql://…`; return the async driver URL."""
    if "://" not in url:
        return f"sqlite+aiosqlite:///{url}"
    if url.startswith("sqlite://"):
        return url.replace("sqlite://", "sqlite+aiosqlite://", 1)
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url` with the durability settings of its dialect."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 60})
        _sqlite_pragmas(engine)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's deferred BEGIN.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a confirmed allocation survives a power cut
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()
        # The SQL functions the `ips_take_span` trigger and the one-statement acquire use (migration
        # 0003 defines the same two in PostgreSQL).
        dbapi_conn.create_function("fabric_key_add", 2, key_add, deterministic=True)
        dbapi_conn.create_function("fabric_address", 2, key_address, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # Reads (`Database.read`) begin deferred: in WAL they neither wait for nor block the writer.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def key_add(text: str, n: int) -> str:
    """`fabric_key_add(key, n)`: the pool key `n` values on (keys are fixed-width hex)."""
    return key(unkey(text) + n)


def key_address(text: str, family: int) -> str:
    """`fabric_address(key, family)`: the address a pool key stands for, as the store writes it."""
    value = unkey(text)
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


def migrate(sync_url: str) -> None:
    """Bring the schema at `sync_url` (a sync or async URL) to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(sync_url))
    command.upgrade(cfg, "head")


class Database:
    """An engine plus a session factory; `transaction(fn)` runs one intent."""

    def __init__(self, url: str, *, pool_size: int = 10, fair: bool = True) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time and hands its lock to whichever waiting connection's busy
        # handler polls first: some writers wait 20x longer than others.  An in-process queue (an
        # asyncio.Lock wakes its waiters in arrival order) serves them in order; PostgreSQL locks rows.
        self.fair = fair and self.url.startswith("sqlite")
        self._writers: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self) -> None:
        """Run Alembic migrations (in a worker thread: Alembic drives its own event loop)."""
        await asyncio.to_thread(migrate, self.url)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only (rolled back at the end)."""
        async with self.sessions() as session:
            await session.connection(execution_options={READ_ONLY: True})
            yield session

    async def transaction(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `fn` in one transaction; retry it whole on a PostgreSQL deadlock or serialisation error.
        On SQLite, writers of this process take their turn in arrival order (`fair`)."""
        if not self.fair:
            return await self._transaction(fn)
        async with self._writer_queue():
            return await self._transaction(fn)

    def _writer_queue(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._writers is None or self._writers[0] is not loop:  # a lock serves one event loop
            self._writers = (loop, asyncio.Lock())
        return self._writers[1]

    async def _transaction(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        for attempt in range(RETRIES):
            try:
                async with self.sessions() as session, session.begin():
                    return await fn(session)
            except (DBAPIError, Retry) as exc:
                if (isinstance(exc, DBAPIError) and not _retryable(exc)) or attempt == RETRIES - 1:
                    raise
                await asyncio.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(
        getattr(exc.orig, "__cause__", None), "sqlstate", None
    )
    return code in {"40001", "40P01"}
