"""Bearer-token authentication and the role rules: 401 without a valid token, 403 out of scope."""

from __future__ import annotations

from aiohttp import web

from fabric.adapters.store.tokens import Principal

PRINCIPAL = web.RequestKey("principal", Principal)


class Denied(Exception):
    """The caller's role or subject does not cover this request."""

    def __init__(self, principal: Principal, what: str) -> None:
        self.principal = principal
        super().__init__(f"a {principal.role} token for {principal.subject or principal.id!r} may not {what}")


def bearer(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer …` header."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require(
    principal: Principal, what: str, *, roles: tuple[str, ...] = (), subject: str | None = None
) -> None:
    """Admins may do everything; other roles only what `roles` lists, on their own `subject`."""
    if principal.role == "admin":
        return
    if principal.role not in roles or (subject is not None and principal.subject != subject):
        raise Denied(principal, what)
