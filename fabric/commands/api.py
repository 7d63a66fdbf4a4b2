"""`fabric api`: the central IPAM and machine store — serve it, and talk to it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fabric.commands._client import Conn, connected, load_body

app = typer.Typer(help="The central IPAM and machine store (fabric api).", no_args_is_help=True)
RESOURCES = ("partitions", "projects", "networks", "ips", "switches", "machines", "tokens")
PLURAL = {
    "partition": "partitions",
    "project": "projects",
    "network": "networks",
    "ip": "ips",
    "switch": "switches",
    "machine": "machines",
    "token": "tokens",
}


def _resource(name: str) -> str:
    plural = PLURAL.get(name, name)
    if plural not in RESOURCES:
        raise typer.BadParameter(f"unknown resource {name!r}; one of {', '.join(RESOURCES)}")
    return plural


@app.command()
def serve(
    *,
    db: Annotated[
        str, typer.Option(help="sqlite:///PATH (default) or postgresql+asyncpg://…")
    ] = "sqlite:///fabric.db",
    listen: Annotated[str, typer.Option(help="HOST:PORT")] = "127.0.0.1:8080",
    tls_cert: Annotated[str | None, typer.Option(help="Server certificate (PEM).")] = None,
    tls_key: Annotated[str | None, typer.Option(help="Server key (PEM).")] = None,
    heartbeat_stale: Annotated[float, typer.Option(help="Seconds after which a heartbeat is stale.")] = 300.0,
    oidc_issuer: Annotated[
        str | None, typer.Option(help="Also accept JWTs of this OIDC issuer (its URL, as in their iss).")
    ] = None,
    oidc_audience: Annotated[
        str | None, typer.Option(help="The aud those JWTs must carry (e.g. the client id).")
    ] = None,
    oidc_groups_claim: Annotated[str, typer.Option(help="The claim listing a user's groups.")] = "groups",
    oidc_admin_group: Annotated[
        str, typer.Option(help="The group whose members are admins.")
    ] = "fabric-admins",
    oidc_project_prefix: Annotated[
        str, typer.Option(help="A group PREFIX<project> makes its members that project's members.")
    ] = "fabric-project-",
    oidc_ca: Annotated[
        str | None, typer.Option(help="CA bundle for the provider's TLS (default: the system's).")
    ] = None,
    oidc_leeway: Annotated[
        int, typer.Option(help="Seconds of clock skew allowed on a token's exp and nbf.", min=0)
    ] = 30,
) -> None:
    """Serve the API (migrates the store first; FABRIC_ADMIN_TOKEN becomes an admin token).

    With --oidc-issuer and --oidc-audience, users also sign in with their identity provider's tokens
    (docs/guides/api.md#sign-in-with-oidc); the daemons keep fabric's own tokens."""
    import asyncio
    import resource

    from aiohttp import web

    from fabric.api.app import build_app, prepare, tls_context
    from fabric.api.oidc import OidcSettings

    if (oidc_issuer is None) != (oidc_audience is None):
        raise typer.BadParameter("--oidc-issuer and --oidc-audience go together")
    oidc = (
        OidcSettings(
            oidc_issuer,
            oidc_audience,
            groups_claim=oidc_groups_claim,
            admin_group=oidc_admin_group,
            project_prefix=oidc_project_prefix,
            ca=oidc_ca,
            leeway=oidc_leeway,
        )
        if oidc_issuer and oidc_audience
        else None
    )

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # every long-poll holds a socket
    host, _, port = listen.rpartition(":")
    database = asyncio.run(prepare(db))
    ssl_ctx = tls_context(tls_cert, tls_key)
    web.run_app(
        build_app(database, heartbeat_stale=heartbeat_stale, oidc=oidc),
        host=host or "127.0.0.1",
        port=int(port),
        ssl_context=ssl_ctx,
        print=lambda msg: typer.echo(msg, err=True),
        backlog=4096,
    )
    _ = soft


@app.command("list")
@connected()
def list_(
    resource: Annotated[str, typer.Argument(help=", ".join(RESOURCES))],
    *,
    project: Annotated[str | None, typer.Option(help="Only this project's rows.")] = None,
    conn: Conn,
) -> None:
    """List a resource."""
    what = _resource(resource)
    conn.show(lambda api: api.request("GET", f"/v1/{what}", project=project))


@app.command("show")
@connected()
def show_(
    resource: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    *,
    conn: Conn,
) -> None:
    """Show one object."""
    what = _resource(resource)
    conn.show(lambda api: api.request("GET", f"/v1/{what}/{name}"))


@app.command()
@connected()
def create(
    resource: Annotated[str, typer.Argument()],
    pairs: Annotated[list[str] | None, typer.Argument(help="key=value fields (YAML values).")] = None,
    *,
    file: Annotated[str | None, typer.Option("-f", "--file", help="JSON/YAML body.")] = None,
    conn: Conn,
) -> None:
    """Create an object from -f FILE and/or key=value pairs (an IP: `create ip network=NET`)."""
    what = _resource(resource)
    body = load_body(file, pairs or [])
    conn.show(lambda api: api.request("POST", f"/v1/{what}", body))


IfMatch = Annotated[
    str | None, typer.Option("--if-match", help="Only if the object is still at this ETag (else HTTP 412).")
]
CHANGEABLE = ("partitions", "projects", "networks", "switches", "machines")


@app.command()
@connected()
def update(
    resource: Annotated[str, typer.Argument(help=", ".join(CHANGEABLE))],
    name: Annotated[str, typer.Argument()],
    pairs: Annotated[list[str] | None, typer.Argument(help="key=value fields (YAML values).")] = None,
    *,
    file: Annotated[str | None, typer.Option("-f", "--file", help="The whole JSON/YAML body.")] = None,
    if_match: IfMatch = None,
    conn: Conn,
) -> None:
    """Update an object to the body (as for create); unsafe changes are refused naming the field."""
    what = _resource(resource)
    body = {"name": name, **load_body(file, pairs or [])}
    path = f"/v1/{what}/{name}"
    _write(conn, "PUT", path, body, if_match=if_match)


@app.command()
@connected()
def delete(
    resource: Annotated[str, typer.Argument(help=", ".join(CHANGEABLE))],
    name: Annotated[str, typer.Argument()],
    *,
    if_match: IfMatch = None,
    conn: Conn,
) -> None:
    """Delete an object that holds nothing allocated (refused with what still holds on otherwise)."""
    what = _resource(resource)
    path = f"/v1/{what}/{name}"
    _write(conn, "DELETE", path, None, if_match=if_match)


async def _first(reply: Any) -> Any:
    payload, _etag = await reply
    return payload


@app.command()
@connected()
def allocate(
    kind: Annotated[str, typer.Argument(help="machine or firewall")],
    name: Annotated[str, typer.Argument()],
    *,
    network: Annotated[list[str], typer.Option("--network", "-n", help="Networks (private first).")],
    project: Annotated[str | None, typer.Option()] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="Given addresses.")] = None,
    if_match: IfMatch = None,
    conn: Conn,
) -> None:
    """Allocate a machine into a project, or a machine as a firewall."""
    body: dict[str, Any] = {"networks": network, "project": project}
    if kind == "machine":
        body["ips"] = ip or []
    path = f"/v1/{_kind(kind, ('machine', 'firewall'))}/{name}/allocate"
    _write(conn, "POST", path, body, if_match=if_match)


@app.command()
@connected()
def free(
    name: Annotated[str, typer.Argument()],
    *,
    if_match: IfMatch = None,
    conn: Conn,
) -> None:
    """Free a machine or firewall: releases its IPs, ASN and networks (idempotent)."""
    _write(conn, "POST", f"/v1/machines/{name}/free", None, if_match=if_match)


@app.command()
@connected()
def release(
    address: Annotated[str, typer.Argument()],
    *,
    if_match: IfMatch = None,
    conn: Conn,
) -> None:
    """Release an IP."""
    _write(conn, "DELETE", f"/v1/ips/{address}", None, if_match=if_match)


@app.command("port-admin")
@connected()
def port_admin(
    switch: Annotated[str, typer.Argument()],
    port: Annotated[str, typer.Argument()],
    admin_status: Annotated[str, typer.Argument(help="up or down")],
    *,
    conn: Conn,
) -> None:
    """Set a switch port administratively down, or back up (the switch's document gets a new revision)."""
    if admin_status not in ("up", "down"):
        raise typer.BadParameter(f"{admin_status!r}: give up or down", param_hint="ADMIN_STATUS")
    conn.show(lambda api: api.set_port_admin(switch, port, admin_status))


@app.command()
@connected(output=False)
def status(
    kind: Annotated[str, typer.Argument(help="switch or firewall")],
    name: Annotated[str, typer.Argument()],
    *,
    conn: Conn,
) -> None:
    """Print the last status a switch or firewall daemon reported (JSON)."""
    _kind(kind, ("switch", "firewall"))
    reported = conn.call(lambda api: api.get_status(kind, name))
    typer.echo(reported.model_dump_json(indent=2))


def _kind(kind: str, allowed: tuple[str, ...]) -> str:
    """The plural path segment of `kind`, one of `allowed`."""
    if kind not in allowed:
        raise typer.BadParameter(f"{kind!r}: one of {', '.join(allowed)}", param_hint="KIND")
    return {"machine": "machines", "firewall": "firewalls", "switch": "switches"}[kind]


def _write(conn: Conn, method: str, path: str, body: Any, *, if_match: str | None) -> None:
    """A write that takes If-Match (a stale one is the 412 problem naming If-Match)."""
    conn.show(lambda api: _first(api.versioned(method, path, body, if_match=if_match)))


@app.command()
@connected(output=False)
def state(
    kind: Annotated[str, typer.Argument(help="switch, machine or firewall")],
    name: Annotated[str, typer.Argument()],
    *,
    conn: Conn,
) -> None:
    """Print a desired-state document (JSON)."""
    fetched = conn.call(lambda api: api.get_state(kind, name))
    typer.echo(fetched.document.model_dump_json(indent=2, by_alias=True))


@app.command()
@connected()
def diff(
    kind: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument()],
    rev_from: Annotated[int, typer.Argument()],
    rev_to: Annotated[int, typer.Argument()],
    *,
    conn: Conn,
) -> None:
    """What changed in a document between two revisions."""
    plural = {"switch": "switches", "machine": "machines", "firewall": "firewalls"}[kind]
    path = f"/v1/{plural}/{name}/diff"
    conn.show(lambda api: api.request("GET", path, **{"from": rev_from, "to": rev_to}))


@app.command()
@connected()
def audit(
    *,
    target: Annotated[str | None, typer.Option()] = None,
    limit: int = 50,
    conn: Conn,
) -> None:
    """The audit log: who changed what, when."""
    conn.show(lambda api: api.request("GET", "/v1/audit", target=target, limit=limit))


@app.command()
def backup(
    db: Annotated[str, typer.Option(help="The store's URL.")],
    file: Annotated[str, typer.Argument()],
) -> None:
    """Back the store up while it serves: SQLite online backup, or pg_dump."""
    from fabric.adapters.store.backup import backup as run_backup

    run_backup(db, file)
    typer.echo(f"backed up to {file}")


@app.command()
def restore(
    db: Annotated[str, typer.Option(help="The store's URL (stop the API first).")],
    file: Annotated[str, typer.Argument()],
) -> None:
    """Restore a backup into the store (SQLite: file copy via the backup API; PostgreSQL: psql)."""
    from fabric.adapters.store.backup import restore as run_restore

    run_restore(db, file)
    typer.echo(f"restored from {file}")
