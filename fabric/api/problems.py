"""Errors as RFC 9457 problem documents that name the field and the reason."""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic
from aiohttp import web
from sqlalchemy.exc import IntegrityError

from fabric.adapters.store.errors import Conflict, NotFound, Stale
from fabric.errors import AllocationError, FabricError, ValidationError
from fabric.model import problems_of

CONSTRAINT_FIELDS = {
    "uq_ips_pool_key": "address",
    "ips.address": "address",
    "uq_networks_vni": "vni",
    "uq_switches_asn": "asn",
    "uq_machines_asn": "asn",
    "nics.mac": "nics",
    "free_ranges": "pool",
}


class Problem(pydantic.BaseModel):
    """An error response (application/problem+json)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str = ""
    errors: list[dict[str, str]] = []
    pool: str | None = None
    size: str | None = None
    etag: str | None = None


def problem(
    status: int, title: str, detail: str, errors: list[tuple[str, str]] | None = None, **extra: Any
) -> web.Response:
    """A problem response; `errors` lists (field, reason) pairs, the first is also `field`."""
    errs = errors or []
    body = Problem(
        title=title,
        status=status,
        detail=detail,
        field=errs[0][0] if errs else "",
        errors=[{"field": f, "reason": r} for f, r in errs],
        **extra,
    )
    return web.Response(
        status=status,
        text=body.model_dump_json(exclude_none=True),
        content_type="application/problem+json",
    )


def from_exception(exc: BaseException) -> web.Response | None:
    """The problem response of a known error, or None for an unexpected one."""
    if isinstance(exc, ValidationError):
        return problem(422, "invalid request", str(exc), exc.problems)
    if isinstance(exc, pydantic.ValidationError):
        probs = problems_of(exc, "body")
        return problem(422, "invalid request", "; ".join(f"{p}: {r}" for p, r in probs), probs)
    if isinstance(exc, NotFound):
        return problem(404, "not found", str(exc), [(exc.path, str(exc))])
    if isinstance(exc, Stale):
        return problem(
            412,
            "precondition failed",
            str(exc),
            [(exc.path, f"stale: the current ETag is {etag(exc.current)}")],
            etag=etag(exc.current),
        )
    if isinstance(exc, Conflict):
        return problem(409, "conflict", str(exc), [(exc.path, str(exc))])
    if isinstance(exc, AllocationError):
        return problem(
            409, "allocation failed", str(exc), [(exc.pool, str(exc))], pool=exc.pool, size=str(exc.size)
        )
    if isinstance(exc, IntegrityError):
        text = str(exc.orig)
        field = next((f for key, f in CONSTRAINT_FIELDS.items() if key in text), "")
        return problem(
            409, "conflict", f"conflicts with a stored record: {_first_line(text)}", [(field, "taken")]
        )
    if isinstance(exc, FabricError):
        return problem(400, "bad request", str(exc))
    return None


def etag(version: str) -> str:
    """An ETag header value (a strong validator) of a version or document hash."""
    return f'"{version}"'


def _first_line(text: str) -> str:
    return re.sub(r"\s+", " ", text.splitlines()[0] if text else "")[:300]


def bad_json(exc: json.JSONDecodeError) -> web.Response:
    """The body is not JSON."""
    return problem(
        400, "invalid JSON", f"line {exc.lineno} column {exc.colno}: {exc.msg}", [("body", exc.msg)]
    )
