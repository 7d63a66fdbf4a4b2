"""Bearer tokens: 256 random bits shown once, stored as SHA-256, with expiry and revocation."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fabric.adapters.store.bodies import TokenCreate
from fabric.adapters.store.engine import Database
from fabric.adapters.store.errors import NotFound
from fabric.adapters.store.schema import Token

PREFIX = "fab_"
AUTH_TTL = 1.0  # seconds a token found valid is trusted without reading the store again
AUTH_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's id, role and subject (project, switch or firewall name)."""

    id: str
    role: str
    subject: str = ""
    name: str = ""  # a signed-in user's name (OIDC); fabric's tokens have none

    @property
    def who(self) -> str:
        """What the audit records: `role:subject` for a token, `role[:project]:user` for a user."""
        if self.name:
            return ":".join(filter(None, (self.role, self.subject, self.name)))
        return f"{self.role}:{self.subject or self.id}"


def digest(secret: str) -> str:
    """SHA-256 hex of a token's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def create(session: AsyncSession, body: TokenCreate, secret: str | None = None) -> tuple[Token, str]:
    """A new token; returns the row and the secret (shown once, never stored)."""
    secret = secret or PREFIX + secrets.token_urlsafe(32)  # 32 bytes = 256 random bits
    now = time.time()
    row = Token(
        id=secrets.token_hex(6),
        hash=digest(secret),
        role=body.role,
        subject=body.subject,
        description=body.description,
        created_at=now,
        expires_at=now + body.expires_in if body.expires_in else None,
        revoked=False,
    )
    session.add(row)
    await session.flush()
    return row, secret


async def authenticate(session: AsyncSession, secret: str, now: float) -> Principal | None:
    """The principal of a valid (known, unexpired, unrevoked) token, else None."""
    row = (await session.execute(select(Token).where(Token.hash == digest(secret)))).scalar_one_or_none()
    if row is None or row.revoked or (row.expires_at is not None and row.expires_at <= now):
        return None
    return Principal(row.id, row.role, row.subject)


async def revoke(session: AsyncSession, token_id: str) -> Token:
    """Revoke a token by id (idempotent)."""
    row = await session.get(Token, token_id)
    if row is None:
        raise NotFound("token", token_id, "id")
    row.revoked = True
    await session.flush()
    return row


async def ensure_admin(session: AsyncSession, secret: str) -> None:
    """Make `secret` (from FABRIC_ADMIN_TOKEN) a valid admin token if it is not one yet."""
    exists = (await session.execute(select(Token).where(Token.hash == digest(secret)))).scalar_one_or_none()
    if exists is None:
        await create(session, TokenCreate(role="admin", description="FABRIC_ADMIN_TOKEN"), secret)


class TrustedTokens:
    """Tokens found valid, remembered for `AUTH_TTL` seconds (a database read less per request); a
    revocation on another replica, or an expiry, takes effect within that time (here: `forget`)."""

    def __init__(self) -> None:
        self._valid: dict[str, tuple[float, Principal]] = {}  # token digest -> (checked at, principal)

    async def authenticate(self, db: Database, secret: str) -> Principal | None:
        """The principal of a valid token, from memory when it was found valid within `AUTH_TTL`."""
        key, now = digest(secret), time.monotonic()
        hit = self._valid.get(key)
        if hit is not None and now - hit[0] < AUTH_TTL:
            return hit[1]
        async with db.read() as s:
            principal = await authenticate(s, secret, time.time())
        if principal is not None:
            if len(self._valid) > AUTH_CACHE_SIZE:
                self._valid.clear()
            self._valid[key] = (now, principal)
        return principal

    def forget(self) -> None:
        """Trust no token on memory any more (a revocation on this replica takes effect at once)."""
        self._valid.clear()
