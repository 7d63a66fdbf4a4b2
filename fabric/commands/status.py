"""`fabric status`: the fleet view — desired vs applied revision, outdated, errors, stale heartbeats."""

from __future__ import annotations

import typer

from fabric.commands._client import Conn, connected, show


@connected()
def status(*, conn: Conn) -> None:
    """Per switch and firewall: desired and applied revision, outdated, last error, heartbeat age."""
    rows = conn.call(lambda api: api.request("GET", "/v1/status"))
    show(rows, conn.output)
    if any(r["outdated"] or r["stale"] or r["last_error"] for r in rows):
        raise typer.Exit(3)
