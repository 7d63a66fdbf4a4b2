"""Routes of the inventory and IPAM resources: create, acquire, release, allocate, free, pause, tokens;
the routes every resource has alike (list, show, update, delete) are made in `fabric.api.generic`."""

from __future__ import annotations

from aiohttp import web

from fabric.adapters.store.bodies import (
    FirewallAllocate,
    IpAcquire,
    MachineAllocate,
    MachineCreate,
    NetworkCreate,
    PartitionCreate,
    PortAdmin,
    ProjectCreate,
    SwitchCreate,
    TokenCreate,
)
from fabric.adapters.store.schema import Ip, Machine, Network
from fabric.api import responses as out
from fabric.api.auth import require
from fabric.api.context import Route, body, ctx, if_match, ok, who
from fabric.api.generic import CREATES, deleter, lister, shower, shown, updater


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
    if b.firewall is not None:  # a firewall's own address is the operator's decision
        require(principal, f"attach addresses to firewall {b.firewall}")
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
            owner = await s.get(Machine, ip.machine) if ip is not None and ip.machine else None
        if owner is not None and owner.role == "firewall":  # its underlay or own external address
            require(principal, f"release an address of firewall {owner.name}")
        require(
            principal, "release another project's IP", roles=("project",), subject=ip.project if ip else None
        )
    return ok(await ctx(request).store.release_ip(principal, address, if_match(request)))


async def create_switch(request: web.Request) -> web.Response:
    b = await body(request, SwitchCreate)
    return ok(await ctx(request).store.create_switch(who(request), b), 201)


def _pauser(paused: bool) -> Route:
    async def handler(request: web.Request) -> web.Response:
        return ok(await ctx(request).store.pause_switch(who(request), request.match_info["name"], paused))

    verb = "pause" if paused else "resume"
    what = "Pause a switch (its daemon applies nothing)" if paused else "Resume a paused switch"
    return Route("POST", f"/v1/switches/{{name}}/{verb}", handler, what, response=out.Paused)


async def port_admin(request: web.Request) -> web.Response:
    b = await body(request, PortAdmin)
    switch, port = request.match_info["name"], request.match_info["port"]
    return ok(await ctx(request).store.set_port_admin(who(request), switch, port, b.admin_status))


async def create_machine(request: web.Request) -> web.Response:
    b = await body(request, MachineCreate)
    return ok({"name": await ctx(request).store.create_machine(who(request), b)}, 201)


async def allocate_machine(request: web.Request) -> web.Response:
    b = await body(request, MachineAllocate)
    require(who(request), "allocate into another project", roles=("project",), subject=b.project)
    name = request.match_info["name"]
    await ctx(request).store.allocate_machine(who(request), name, b, if_match(request))
    return await shown(request, "machines", name)


async def allocate_firewall(request: web.Request) -> web.Response:
    b = await body(request, FirewallAllocate)
    name = request.match_info["name"]
    await ctx(request).store.allocate_firewall(who(request), name, b, if_match(request))
    return await shown(request, "machines", name)


async def free(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    principal = who(request)
    if principal.role == "project":
        async with ctx(request).store.db.read() as s:
            m = await s.get(Machine, name)
        require(
            principal, "free another project's machine", roles=("project",), subject=m.project if m else None
        )
    await ctx(request).store.free(principal, name, if_match(request))
    return await shown(request, "machines", name)


async def create_token(request: web.Request) -> web.Response:
    b = await body(request, TokenCreate)
    row, secret = await ctx(request).store.create_token(who(request), b)
    return ok({**row, "token": secret}, 201)


async def revoke_token(request: web.Request) -> web.Response:
    await ctx(request).store.revoke_token(who(request), request.match_info["id"])
    return ok({"id": request.match_info["id"], "revoked": True})


AP = ("admin", "project")
ROUTES = [
    *(r for what in CREATES for r in (updater(what), deleter(what))),
    Route(
        "POST",
        "/v1/partitions",
        create_partition,
        "Create a partition and its pools",
        PartitionCreate,
        out.Named,
    ),
    lister("partitions"),
    shower("partitions"),
    Route("POST", "/v1/projects", create_project, "Create a project", ProjectCreate, out.Named),
    lister("projects"),
    shower("projects"),
    Route(
        "POST",
        "/v1/networks",
        create_network,
        "Create a network (a private one is carved)",
        NetworkCreate,
        out.NetworkCreated,
    ),
    lister("networks", scoped=True),
    shower("networks", scoped=True),
    Route("POST", "/v1/ips", acquire_ip, "Acquire an IP (given or next free)", IpAcquire, out.IpAcquired, AP),
    lister("ips", scoped=True),
    shower("ips", scoped=True, key="address"),
    Route(
        "DELETE", "/v1/ips/{address}", release_ip, "Release an IP", None, out.IpReleased, AP, conditional=True
    ),
    Route("POST", "/v1/switches", create_switch, "Declare a switch", SwitchCreate, out.SwitchCreated),
    lister("switches"),
    shower("switches"),
    _pauser(True),
    _pauser(False),
    Route(
        "PATCH",
        "/v1/switches/{name}/ports/{port}",
        port_admin,
        "Set a switch port administratively down or up (a new revision of the switch's document)",
        PortAdmin,
        out.PortAdminSet,
    ),
    Route(
        "POST", "/v1/machines", create_machine, "Register a machine and its NICs", MachineCreate, out.Named
    ),
    lister("machines", scoped=True),
    shower("machines", scoped=True),
    Route(
        "POST",
        "/v1/machines/{name}/allocate",
        allocate_machine,
        "Allocate a machine (answers the machine, ETag its new version)",
        MachineAllocate,
        out.MachineInfo,
        AP,
        conditional=True,
    ),
    Route(
        "POST",
        "/v1/machines/{name}/free",
        free,
        "Free a machine (idempotent)",
        None,
        out.MachineInfo,
        AP,
        conditional=True,
    ),
    Route(
        "POST",
        "/v1/firewalls/{name}/allocate",
        allocate_firewall,
        "Allocate a firewall (answers the machine, ETag its new version)",
        FirewallAllocate,
        out.MachineInfo,
        conditional=True,
    ),
    Route(
        "POST",
        "/v1/firewalls/{name}/free",
        free,
        "Free a firewall (idempotent)",
        None,
        out.MachineInfo,
        conditional=True,
    ),
    Route(
        "POST",
        "/v1/tokens",
        create_token,
        "Create a token (its secret is shown once)",
        TokenCreate,
        out.TokenCreated,
    ),
    lister("tokens"),
    Route("DELETE", "/v1/tokens/{id}", revoke_token, "Revoke a token", None, out.TokenRevoked),
]
