"""Pools in the database: the free spans of `fabric.core.ipam`, found through an index.

Each operation reads at most the two or three spans it changes (`ORDER BY first LIMIT 1`, or the span
holding a value), so an acquire costs the same in an empty /16 and in one holding 50,000 addresses.
The pool's row is locked first (`FOR UPDATE` on PostgreSQL; SQLite transactions are serialised by
BEGIN IMMEDIATE), which serialises allocations *per pool* only — never globally.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store.errors import Conflict
from fabric.adapters.store.schema import FreeRange, Pool
from fabric.core.ipam import Span, aligned_start, carve, exhausted, key, merge, resized, taken, unkey
from fabric.errors import AllocationError


async def create_pool(session: AsyncSession, name: str, whole: Span) -> int:
    """A new pool with everything free; returns its id."""
    result = await session.execute(
        insert(Pool).values(name=name, first=key(whole.first), last=key(whole.last)).returning(Pool.id)
    )
    pool_id = int(result.scalar_one())
    await session.execute(
        insert(FreeRange).values(pool_id=pool_id, first=key(whole.first), last=key(whole.last))
    )
    return pool_id


async def drop_pool(session: AsyncSession, pool_id: int) -> None:
    """Delete a pool and its spans."""
    await session.execute(delete(FreeRange).where(FreeRange.pool_id == pool_id))
    await session.execute(delete(Pool).where(Pool.id == pool_id))


async def _lock(session: AsyncSession, pool_id: int) -> None:
    # SQLite transactions are serialised already (BEGIN IMMEDIATE); PostgreSQL needs the row lock.
    if session.get_bind().dialect.name != "sqlite":
        await session.execute(select(Pool.id).where(Pool.id == pool_id).with_for_update())


async def _describe(session: AsyncSession, pool_id: int) -> tuple[str, Span]:
    row = (await session.execute(select(Pool).where(Pool.id == pool_id))).scalar_one()
    return row.name, Span(unkey(row.first), unkey(row.last))


async def _replace(session: AsyncSession, pool_id: int, old: Span, rest: list[Span]) -> None:
    where = (FreeRange.pool_id == pool_id, FreeRange.first == key(old.first))
    if len(rest) == 1 and rest[0].last == old.last:  # the common case: the span shrinks from below
        await session.execute(update(FreeRange).where(*where).values(first=key(rest[0].first)))
        return
    await session.execute(delete(FreeRange).where(*where))
    for span in rest:
        await session.execute(
            insert(FreeRange).values(pool_id=pool_id, first=key(span.first), last=key(span.last))
        )


async def take(session: AsyncSession, pool_id: int, size: int = 1, asked: str = "") -> int:
    """Take the lowest free block of `size` (aligned to it); `AllocationError` naming pool and size."""
    await _lock(session, pool_id)
    query = (
        select(FreeRange.first, FreeRange.last).where(FreeRange.pool_id == pool_id).order_by(FreeRange.first)
    )
    if size == 1:
        query = query.limit(1)  # the lowest span always fits one value
    for first, last in (await session.execute(query)).all():
        span = Span(unkey(first), unkey(last))
        start = aligned_start(span, size)
        if start is not None:
            await _replace(session, pool_id, span, carve(span, start, size))
            return start
    name, whole = await _describe(session, pool_id)
    raise exhausted(name, whole.size, asked or f"a block of {size}")


async def _free_span_from(session: AsyncSession, pool_id: int, start: int) -> Span | None:
    """The free span that begins at or before `start` (the only one that can hold it), or None."""
    row = (
        await session.execute(
            select(FreeRange.first, FreeRange.last)
            .where(FreeRange.pool_id == pool_id, FreeRange.first <= key(start))
            .order_by(FreeRange.first.desc())
            .limit(1)
        )
    ).first()
    return Span(unkey(row[0]), unkey(row[1])) if row else None


async def take_at(session: AsyncSession, pool_id: int, start: int, size: int = 1, asked: str = "") -> int:
    """Take exactly `[start, start+size-1]`; `AllocationError` when any of it is taken or outside."""
    await _lock(session, pool_id)
    end = start + size - 1
    span = await _free_span_from(session, pool_id, start)
    if span is None or start not in span or end not in span:
        name, whole = await _describe(session, pool_id)
        raise taken(name, whole.size, asked or str(start))
    await _replace(session, pool_id, span, carve(span, start, size))
    return start


async def release(session: AsyncSession, pool_id: int, start: int, size: int = 1) -> None:
    """Give a block back, merging it with the free spans that touch it; a double free is refused."""
    await _lock(session, pool_id)
    block = Span(start, start + size - 1)
    left = await _free_span_from(session, pool_id, start)
    right_row = (
        await session.execute(
            select(FreeRange.first, FreeRange.last)
            .where(FreeRange.pool_id == pool_id, FreeRange.first > key(start))
            .order_by(FreeRange.first)
            .limit(1)
        )
    ).first()
    right = Span(unkey(right_row[0]), unkey(right_row[1])) if right_row else None
    if (left and left.last >= block.first) or (right and right.first <= block.last):
        name, whole = await _describe(session, pool_id)
        raise AllocationError(f"{start} is free already in pool {name}", name, whole.size)
    joined = merge(block, left, right)
    for neighbour in (left, right):
        if neighbour is not None and neighbour.first in joined and neighbour.first != block.first:
            await session.execute(
                delete(FreeRange).where(FreeRange.pool_id == pool_id, FreeRange.first == key(neighbour.first))
            )
    await session.execute(
        insert(FreeRange).values(pool_id=pool_id, first=key(joined.first), last=key(joined.last))
    )


async def free_count(session: AsyncSession, pool_id: int) -> tuple[int, int]:
    """(free, size) of a pool; reads every span (for `show`, not for allocation)."""
    pool = (await session.execute(select(Pool).where(Pool.id == pool_id))).scalar_one()
    rows = (
        await session.execute(select(FreeRange.first, FreeRange.last).where(FreeRange.pool_id == pool_id))
    ).all()
    return sum(unkey(b) - unkey(a) + 1 for a, b in rows), unkey(pool.last) - unkey(pool.first) + 1


async def resize(
    session: AsyncSession, pool_id: int, new: Span, path: str, fmt: Callable[[int], str] = str
) -> bool:
    """Make the pool span `new`, keeping every taken value; True when that changed it.

    Refused (`Conflict` naming `path`) when a taken value would fall outside; `fmt` formats values in
    the message (e.g. as addresses).  Reads every free span: pools resized are few and rarely changed.
    """
    await _lock(session, pool_id)
    name, whole = await _describe(session, pool_id)
    if whole == new:
        return False
    rows = (
        await session.execute(select(FreeRange.first, FreeRange.last).where(FreeRange.pool_id == pool_id))
    ).all()
    result = resized([Span(unkey(a), unkey(b)) for a, b in rows], whole, new)
    if isinstance(result, int):
        raise Conflict(
            f"pool {name} (size {whole.size}) cannot become {fmt(new.first)}..{fmt(new.last)}: "
            f"{fmt(result)} is allocated",
            path,
        )
    await session.execute(delete(FreeRange).where(FreeRange.pool_id == pool_id))
    for span in result:
        await session.execute(
            insert(FreeRange).values(pool_id=pool_id, first=key(span.first), last=key(span.last))
        )
    await session.execute(
        update(Pool).where(Pool.id == pool_id).values(first=key(new.first), last=key(new.last))
    )
    return True


async def in_pool(session: AsyncSession, pool_id: int, value: int) -> bool:
    """Whether `value` lies in the pool's range (taken or not)."""
    _, whole = await _describe(session, pool_id)
    return value in whole
