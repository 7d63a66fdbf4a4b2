"""Routes every resource has alike, made from its name: list, show, update and delete."""

from __future__ import annotations

from aiohttp import web

from fabric.adapters.store import queries, versions
from fabric.adapters.store.bodies import (
    MachineCreate,
    NetworkCreate,
    PartitionCreate,
    ProjectCreate,
    SwitchCreate,
)
from fabric.api import responses as out
from fabric.api.auth import require
from fabric.api.context import Query, Route, body, ctx, if_match, ok, path_name, who
from fabric.errors import ValidationError
from fabric.model.names import NAME_PATTERN

FILTERS = ("project", "partition", "network", "kind", "machine")
"""Query parameters a listing filters by (an empty value filters nothing)."""

# The answer model of each resource's rows.
OUT: dict[str, type[out.Out]] = {
    "partitions": out.PartitionInfo,
    "projects": out.ProjectInfo,
    "networks": out.NetworkInfo,
    "ips": out.IpInfo,
    "switches": out.SwitchInfo,
    "machines": out.MachineInfo,
    "tokens": out.TokenInfo,
}

# The resources that can be updated and deleted, with the body an update takes (the one create takes).
CREATES: dict[str, type[PartitionCreate | ProjectCreate | NetworkCreate | SwitchCreate | MachineCreate]] = {
    "partitions": PartitionCreate,
    "projects": ProjectCreate,
    "networks": NetworkCreate,
    "switches": SwitchCreate,
    "machines": MachineCreate,
}


def lister(what: str, scoped: bool = False) -> Route:
    """`GET /v1/{what}`, filtered by the query; `scoped`: a project token sees only its own rows."""

    # Only what the resource can be filtered by is offered (and stated in the OpenAPI document); the
    # project filter is the scope of a project token.
    accepted = tuple(c for c in queries.filter_columns(what, FILTERS) if c != "project" or scoped)
    # Every filter names an object (or a kind): a value no name can have is refused, not looked up.
    params = tuple(Query(q, description=f"Only rows of this {q}.", pattern=NAME_PATTERN) for q in accepted)

    async def handler(request: web.Request) -> web.Response:
        refused = [k for k in FILTERS if request.query.get(k) and k not in accepted and k != "project"]
        if refused:
            raise ValidationError(f"{what} cannot be filtered by {refused[0]}", refused[0])
        filters: dict[str, str | None] = {param.name: param.read(request) for param in params}
        if scoped and who(request).role == "project":
            filters["project"] = who(request).subject  # a project token sees only its own rows
        async with ctx(request).store.db.read() as s:
            return ok(await queries.listing(s, what, **filters))

    roles = ("admin", "project") if scoped else ("admin",)
    return Route(
        "GET",
        f"/v1/{what}",
        handler,
        f"List {what}",
        response=OUT[what],
        many=True,
        roles=roles,
        query=params,
    )


def shower(what: str, scoped: bool = False, key: str = "name") -> Route:
    """`GET /v1/{what}/{key}` with its version as ETag; `scoped`: a project reads only its own."""

    async def handler(request: web.Request) -> web.Response:
        async with ctx(request).store.db.read() as s:
            row = await queries.show(s, what, request.match_info[key])
            version = await versions.version(s, what, request.match_info[key])
        if scoped:
            require(
                who(request),
                f"read {what} of another project",
                roles=("project",),
                subject=row.get("project"),
            )
        return ok(row, version=version)

    roles = ("admin", "project") if scoped else ("admin",)
    return Route(
        "GET",
        f"/v1/{what}/{{{key}}}",
        handler,
        f"Show one of {what} (ETag: its version)",
        response=OUT[what],
        roles=roles,
    )


async def shown(request: web.Request, what: str, name: str, status: int = 200) -> web.Response:
    """The object as `show` gives it, with its version as ETag (the answer to a write on it)."""
    async with ctx(request).store.db.read() as s:
        return ok(await queries.show(s, what, name), status, await versions.version(s, what, name))


def updater(what: str) -> Route:
    """`PUT /v1/{what}/{name}`: bring the object to the body (If-Match)."""

    async def handler(request: web.Request) -> web.Response:
        b = await body(request, CREATES[what])
        name = path_name(request, b.name)
        changed = await ctx(request).store.update(who(request), what, b, if_match(request))
        async with ctx(request).store.db.read() as s:
            version = await versions.version(s, what, name)
        return ok({"name": name, "changed": changed}, version=version)

    return Route(
        "PUT",
        f"/v1/{what}/{{name}}",
        handler,
        f"Update one of {what} to this body (unsafe changes are refused naming the field); If-Match",
        CREATES[what],
        response=out.Updated,
        conditional=True,
    )


def deleter(what: str) -> Route:
    """`DELETE /v1/{what}/{name}` of an object that holds nothing allocated (If-Match)."""

    async def handler(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await ctx(request).store.delete(who(request), what, name, if_match(request))
        return ok({"name": name, "deleted": True})

    return Route(
        "DELETE",
        f"/v1/{what}/{{name}}",
        handler,
        f"Delete one of {what} that holds nothing allocated (refused naming what holds on); If-Match",
        response=out.Deleted,
        conditional=True,
    )
