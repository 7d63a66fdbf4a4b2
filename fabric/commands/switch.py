"""`fabric switch`: The switch-resident daemon (fabric switch)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The switch-resident daemon (fabric switch).", no_args_is_help=True)
