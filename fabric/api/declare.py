"""`POST /v1/apply`: the declaration of `fabric apply -f FILE`, applied (or dry-run) in one transaction."""

from __future__ import annotations

from aiohttp import web

from fabric.adapters.store.bodies import ApplySpec
from fabric.api import responses as out
from fabric.api.context import Route, body, ctx, ok, who


async def apply(request: web.Request) -> web.Response:
    spec = await body(request, ApplySpec)
    return ok(await ctx(request).store.apply(who(request), spec))


ROUTES = [
    Route(
        "POST",
        "/v1/apply",
        apply,
        "Create/update the declared objects in one transaction; prune: delete those of the declared kinds "
        "in the file's partitions that it no longer names (refused whole, naming the blocker); dry_run",
        ApplySpec,
        out.Applied,
    ),
]
