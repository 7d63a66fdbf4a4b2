"""`fabric api`: The central IPAM and machine store (fabric api)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The central IPAM and machine store (fabric api).", no_args_is_help=True)
