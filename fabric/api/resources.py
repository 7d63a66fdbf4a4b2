"""Routes of the inventory and IPAM resources: create, list, show, allocate, free."""

from __future__ import annotations

from aiohttp import web

from fabric.adapters.store import queries
from fabric.adapters.store.bodies import (
    FirewallAllocate,
    IpAcquire,
    MachineAllocate,
    MachineCreate,
    NetworkCreate,
    PartitionCreate,
    ProjectCreate,
    SwitchCreate,
    TokenCreate,
)
from fabric.adapters.store.schema import Ip, Machine, Network
from fabric.api.auth import require
from fabric.api.context import Route, body, ctx, ok, who


async def _scope(request: web.Request) -> str | None:
    """A project token sees only its own project's rows."""
    principal = who(request)
    return principal.subject if principal.role == "project" else request.query.get("project")


def _lister(what: str, scoped: bool = False) -> Route:
    async def handler(request: web.Request) -> web.Response:
        filters: dict[str, str | None] = {}
        if scoped:
            filters["project"] = await _scope(request)
        for key in ("partition", "network", "kind", "machine"):
            if key in request.query and what in ("networks", "ips", "switches", "machines"):
                filters[key] = request.query[key]
        async with ctx(request).store.db.read() as s:
            return ok(await queries.listing(s, what, **filters))

    roles = ("admin", "project") if scoped else ("admin",)
    return Route("GET", f"/v1/{what}", handler, f"List {what}", roles=roles, query=("project", "partition"))


def _shower(what: str, scoped: bool = False) -> Route:
    async def handler(request: web.Request) -> web.Response:
        async with ctx(request).store.db.read() as s:
            row = await queries.show(s, what, request.match_info["name"])
        if scoped:
            require(
                who(request),
                f"read {what} of another project",
                roles=("project",),
                subject=row.get("project"),
            )
        return ok(row)

    roles = ("admin", "project") if scoped else ("admin",)
    return Route("GET", f"/v1/{what}/{{name}}", handler, f"Show one of {what}", roles=roles)


async def create_partition(request: web.Request) -> web.Response:
    b = await body(request, PartitionCreate)
    return ok({"name": await ctx(request).store.create_partition(who(request), b)}, 201)


async def create_project(request: web.Request) -> web.Response:
    b = await body(request, ProjectCreate)
    return ok({"name": await ctx(request).store.create_project(who(request), b)}, 201)


async def create_network(request: web.Request) -> web.Response:
    b = await body(request, NetworkCreate)
    return ok(await ctx(request).store.create_network(who(request), b), 201)


async def acquire_ip(request: web.Request) -> web.Response:
    b = await body(request, IpAcquire)
    principal = who(request)
    if principal.role == "project":
        async with ctx(request).store.db.read() as s:
            net = await s.get(Network, b.network)
        owner = net.project if net is not None and net.project else b.project
        require(principal, "acquire IPs for another project", roles=("project",), subject=owner)
        require(principal, "acquire IPs for another project", roles=("project",), subject=b.project or owner)
    return ok(await ctx(request).store.acquire_ip(principal, b), 201)


async def release_ip(request: web.Request) -> web.Response:
    address = request.match_info["address"]
    principal = who(request)
    if principal.role == "project":
        async with ctx(request).store.db.read() as s:
            ip = await s.get(Ip, address)
        require(
            principal, "release another project's IP", roles=("project",), subject=ip.project if ip else None
        )
    return ok(await ctx(request).store.release_ip(principal, address))


async def create_switch(request: web.Request) -> web.Response:
    b = await body(request, SwitchCreate)
    return ok(await ctx(request).store.create_switch(who(request), b), 201)


async def create_machine(request: web.Request) -> web.Response:
    b = await body(request, MachineCreate)
    return ok({"name": await ctx(request).store.create_machine(who(request), b)}, 201)


async def allocate_machine(request: web.Request) -> web.Response:
    b = await body(request, MachineAllocate)
    require(who(request), "allocate into another project", roles=("project",), subject=b.project)
    name = request.match_info["name"]
    await ctx(request).store.allocate_machine(who(request), name, b)
    async with ctx(request).store.db.read() as s:
        return ok(await queries.show(s, "machines", name))


async def allocate_firewall(request: web.Request) -> web.Response:
    b = await body(request, FirewallAllocate)
    name = request.match_info["name"]
    await ctx(request).store.allocate_firewall(who(request), name, b)
    async with ctx(request).store.db.read() as s:
        return ok(await queries.show(s, "machines", name))


async def free(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    principal = who(request)
    if principal.role == "project":
        async with ctx(request).store.db.read() as s:
            m = await s.get(Machine, name)
        require(
            principal, "free another project's machine", roles=("project",), subject=m.project if m else None
        )
    await ctx(request).store.free(principal, name)
    return ok({"name": name, "free": True})


async def create_token(request: web.Request) -> web.Response:
    b = await body(request, TokenCreate)
    row, secret = await ctx(request).store.create_token(who(request), b)
    return ok({**row, "token": secret}, 201)


async def revoke_token(request: web.Request) -> web.Response:
    await ctx(request).store.revoke_token(who(request), request.match_info["id"])
    return ok({"id": request.match_info["id"], "revoked": True})


ROUTES = [
    Route("POST", "/v1/partitions", create_partition, "Create a partition and its pools", PartitionCreate),
    _lister("partitions"),
    _shower("partitions"),
    Route("POST", "/v1/projects", create_project, "Create a project", ProjectCreate),
    _lister("projects"),
    _shower("projects"),
    Route(
        "POST", "/v1/networks", create_network, "Create a network (a private one is carved)", NetworkCreate
    ),
    _lister("networks", scoped=True),
    _shower("networks", scoped=True),
    Route(
        "POST",
        "/v1/ips",
        acquire_ip,
        "Acquire an IP (given or next free)",
        IpAcquire,
        roles=("admin", "project"),
    ),
    _lister("ips", scoped=True),
    Route("DELETE", "/v1/ips/{address}", release_ip, "Release an IP", roles=("admin", "project")),
    Route("POST", "/v1/switches", create_switch, "Declare a switch", SwitchCreate),
    _lister("switches"),
    _shower("switches"),
    Route("POST", "/v1/machines", create_machine, "Register a machine and its NICs", MachineCreate),
    _lister("machines", scoped=True),
    _shower("machines", scoped=True),
    Route(
        "POST",
        "/v1/machines/{name}/allocate",
        allocate_machine,
        "Allocate a machine",
        MachineAllocate,
        roles=("admin", "project"),
    ),
    Route(
        "POST", "/v1/machines/{name}/free", free, "Free a machine (idempotent)", roles=("admin", "project")
    ),
    Route(
        "POST", "/v1/firewalls/{name}/allocate", allocate_firewall, "Allocate a firewall", FirewallAllocate
    ),
    Route("POST", "/v1/firewalls/{name}/free", free, "Free a firewall (idempotent)"),
    Route("POST", "/v1/tokens", create_token, "Create a token (its secret is shown once)", TokenCreate),
    _lister("tokens"),
    Route("DELETE", "/v1/tokens/{id}", revoke_token, "Revoke a token"),
]
