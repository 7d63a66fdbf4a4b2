"""Sign-in with the organisation's identity provider: JWTs from one OIDC issuer, mapped to fabric's roles.

The provider's discovery document names its JWKS; the keys are cached and fetched again when a token
names a key id the cache does not have (the provider rotated its keys) — at most once per
`REFETCH_AFTER` seconds, so forged key ids cannot make fabric hammer the provider.  A token is accepted
only when its signature verifies with an allowed asymmetric algorithm (never `none`, never a shared
secret) and its `iss`, `aud`, `exp` and `nbf` hold.  PyJWT does the cryptography and the claim checks.

Roles come from one claim listing the user's groups (`groups` by default): the admin group makes an
admin; a group `<project prefix><project>` makes a member of that project.  fabric's own tokens stay
what the daemons use.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt

from fabric.adapters.store.tokens import Principal

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Asymmetric algorithms only: `none` and HMAC (a secret the provider would share) are never accepted."""
REFETCH_AFTER = 10.0  # seconds between two JWKS fetches for unknown key ids
KEYS_TTL = 3600.0  # seconds the JWKS is trusted before it is fetched again anyway
NAME_CLAIMS = ("preferred_username", "email", "sub")  # what the audit calls the user, first present


class Refused(Exception):
    """The token is not accepted; `reason` says why (answered as the 401's reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(Exception):
    """The identity provider's discovery document or keys could not be read (answered 503: the token
    may be fine)."""


@dataclass(frozen=True)
class OidcSettings:
    """`fabric api serve --oidc-*`."""

    issuer: str
    audience: str
    groups_claim: str = "groups"
    admin_group: str = "fabric-admins"
    project_prefix: str = "fabric-project-"
    ca: str | None = None  # CA bundle for the provider's TLS (default: the system's)
    leeway: int = 30  # seconds of clock skew allowed on exp and nbf


@dataclass
class _Keys:
    keys: list[tuple[str | None, jwt.PyJWK]] = field(default_factory=list)  # (kid, key)
    fetched_at: float = float("-inf")


class _NoKey(Exception):
    """No key of the cached JWKS verifies the token."""


class OidcVerifier:
    """Checks an OIDC token and answers its principal; one per server."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._keys = _Keys()
        self._jwks_uri: str | None = None
        self._lock = asyncio.Lock()

    async def principal(self, token: str) -> Principal:
        """The principal `token` signs in as; `Refused` naming the reason otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            # Read unverified only to say why and to spare the provider a key lookup: a token of
            # another issuer is refused before any key is fetched (its signature would fail anyway).
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise Refused("not a JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Refused(f"algorithm {alg!r} is not accepted (accepted: {', '.join(ALGORITHMS)})")
        issuer = unverified.get("iss")
        if issuer != self.settings.issuer:
            raise Refused(f"the token was not issued by {self.settings.issuer} (it names {issuer!r})")
        kid = header.get("kid")
        try:
            claims = self._claims(token, alg, await self._keys_for(kid, fetch=False))
        except _NoKey:  # the provider may have rotated its keys: look once more (rate-limited)
            try:
                claims = self._claims(token, alg, await self._keys_for(kid, fetch=True))
            except _NoKey:
                raise Refused("the token's signature does not verify with the provider's keys") from None
        return self._map(claims)

    def _claims(self, token: str, alg: str, keys: list[jwt.PyJWK]) -> dict[str, Any]:
        for key in keys:
            try:
                return self._decode(token, key, alg)
            except jwt.InvalidSignatureError:
                continue
        raise _NoKey

    def _decode(self, token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
        s = self.settings
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidSignatureError:
            raise
        except jwt.ExpiredSignatureError:
            raise Refused("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Refused("the token is not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise Refused(f"the token is not for this API (audience must be {s.audience!r})") from None
        except jwt.InvalidIssuerError:
            raise Refused(f"the token was not issued by {s.issuer}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Refused(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidTokenError as exc:
            raise Refused(f"the token is invalid: {exc}") from None

    def _map(self, claims: dict[str, Any]) -> Principal:
        s = self.settings
        sub = str(claims["sub"])
        name = next(str(claims[c]) for c in NAME_CLAIMS if claims.get(c))
        groups = claims.get(s.groups_claim, [])
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            raise Refused(f"claim {s.groups_claim!r} is not a list of groups")
        if s.admin_group in groups:
            return Principal(id=f"oidc:{sub}", role="admin", name=name)
        projects = sorted(
            g.removeprefix(s.project_prefix)
            for g in groups
            if isinstance(g, str) and g.startswith(s.project_prefix)
        )
        if len(projects) == 1:
            return Principal(id=f"oidc:{sub}", role="project", subject=projects[0], name=name)
        if not projects:
            raise Refused(
                f"{name} is in no fabric group ({s.admin_group!r} or {s.project_prefix!r}<project> "
                f"in claim {s.groups_claim!r})"
            )
        raise Refused(f"{name} is in several projects ({', '.join(projects)}): one project per user")

    async def _keys_for(self, kid: str | None, *, fetch: bool) -> list[jwt.PyJWK]:
        """The keys a token naming `kid` may be signed with (all of them when it names none); with
        `fetch`, the provider's keys are read again first unless they were read moments ago."""
        async with self._lock:  # one fetch for all the requests that found their key missing
            age = time.monotonic() - self._keys.fetched_at
            if age >= KEYS_TTL or (fetch and age >= REFETCH_AFTER):
                self._keys = await self._fetch_keys()
        keys = [k for key_id, k in self._keys.keys if kid is None or key_id == kid]
        if not keys and fetch:
            if kid is None:
                raise Refused("the provider publishes no signing key")
            raise Refused(f"unknown key id {kid!r} (not in the provider's JWKS)")
        if not keys:
            raise _NoKey
        return keys

    async def _fetch_keys(self) -> _Keys:
        if self._jwks_uri is None:
            discovery = await self._get(
                f"{self.settings.issuer.rstrip('/')}/.well-known/openid-configuration"
            )
            if discovery.get("issuer") != self.settings.issuer:
                raise ProviderUnavailable(
                    f"the provider's discovery document names issuer {discovery.get('issuer')!r}, "
                    f"not {self.settings.issuer!r}"
                )
            self._jwks_uri = str(discovery["jwks_uri"])
        jwks = await self._get(self._jwks_uri)
        keys = _Keys(fetched_at=time.monotonic())
        for entry in jwks.get("keys", []):
            if entry.get("use", "sig") != "sig":
                continue
            try:
                keys.keys.append((entry.get("kid"), jwt.PyJWK(entry)))
            except jwt.PyJWKError:
                continue  # a key of a type this build cannot use: tokens naming it are refused
        return keys

    async def _get(self, url: str) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=self.settings.ca) if self.settings.ca else None
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, ssl=context if context else True) as answer,
            ):
                answer.raise_for_status()
                data: dict[str, Any] = json.loads(await answer.text())
                return data
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(f"the identity provider could not be asked ({url}: {exc})") from None
