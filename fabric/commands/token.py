"""`fabric token create|list|revoke`: bearer tokens (256 random bits, stored as SHA-256)."""

from __future__ import annotations

from typing import Annotated

import typer

from fabric.commands._client import Conn, connected

app = typer.Typer(help="Bearer tokens: create, list, revoke.", no_args_is_help=True)


@app.command()
@connected()
def create(
    role: Annotated[str, typer.Argument(help="admin, project, switch or firewall")],
    subject: Annotated[str, typer.Argument(help="The project, switch or firewall it is limited to.")] = "",
    *,
    expires_in: Annotated[int | None, typer.Option(help="Seconds until it expires.")] = None,
    description: str = "",
    conn: Conn,
) -> None:
    """Create a token; its secret is printed once and never stored."""
    body = {"role": role, "subject": subject, "expires_in": expires_in, "description": description}
    conn.show(lambda api: api.request("POST", "/v1/tokens", body))


@app.command("list")
@connected()
def list_(*, conn: Conn) -> None:
    """List tokens (never their secrets)."""
    conn.show(lambda api: api.request("GET", "/v1/tokens"))


@app.command()
@connected()
def revoke(
    token_id: Annotated[str, typer.Argument()],
    *,
    conn: Conn,
) -> None:
    """Revoke a token by its id."""
    conn.show(lambda api: api.request("DELETE", f"/v1/tokens/{token_id}"))
