"""`fabric firewall`: The firewall daemon and policy compiler (fabric firewall)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The firewall daemon and policy compiler (fabric firewall).", no_args_is_help=True)
