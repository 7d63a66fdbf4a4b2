"""`fabric token create|list|revoke`: bearer tokens (256 random bits, stored as SHA-256)."""

from __future__ import annotations

from typing import Annotated

import typer

from fabric.commands._client import DEFAULT_URL, Ca, Output, Token, Url, call, show

app = typer.Typer(help="Bearer tokens: create, list, revoke.", no_args_is_help=True)


@app.command()
def create(
    role: Annotated[str, typer.Argument(help="admin, project, switch or firewall")],
    subject: Annotated[str, typer.Argument(help="The project, switch or firewall it is limited to.")] = "",
    *,
    expires_in: Annotated[int | None, typer.Option(help="Seconds until it expires.")] = None,
    description: str = "",
    url: Url = DEFAULT_URL,
    token: Token = None,
    ca: Ca = None,
    output: Output = "table",
) -> None:
    """Create a token; its secret is printed once and never stored."""
    body = {"role": role, "subject": subject, "expires_in": expires_in, "description": description}
    show(call(url, token, ca, lambda api: api.request("POST", "/v1/tokens", body)), output)


@app.command("list")
def list_(*, url: Url = DEFAULT_URL, token: Token = None, ca: Ca = None, output: Output = "table") -> None:
    """List tokens (never their secrets)."""
    show(call(url, token, ca, lambda api: api.request("GET", "/v1/tokens")), output)


@app.command()
def revoke(
    token_id: Annotated[str, typer.Argument()],
    *,
    url: Url = DEFAULT_URL,
    token: Token = None,
    ca: Ca = None,
    output: Output = "table",
) -> None:
    """Revoke a token by its id."""
    show(call(url, token, ca, lambda api: api.request("DELETE", f"/v1/tokens/{token_id}")), output)
