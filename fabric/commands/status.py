"""`fabric status`: the fleet view — desired vs applied revision, drift, errors, stale heartbeats."""

from __future__ import annotations

import typer

from fabric.commands._client import DEFAULT_URL, Ca, Output, Token, Url, call, show


def status(*, url: Url = DEFAULT_URL, token: Token = None, ca: Ca = None, output: Output = "table") -> None:
    """Per switch and firewall: desired and applied revision, drift, last error, heartbeat age."""
    rows = call(url, token, ca, lambda api: api.request("GET", "/v1/status"))
    show(rows, output)
    if any(r["drift"] or r["stale"] or r["last_error"] for r in rows):
        raise typer.Exit(3)
