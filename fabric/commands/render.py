"""`fabric render`: Render device configuration from desired-state documents."""

from __future__ import annotations

import typer

app = typer.Typer(help="Render device configuration from desired-state documents.", no_args_is_help=True)
