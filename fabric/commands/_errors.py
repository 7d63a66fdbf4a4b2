"""How a command reports a refused input: each problem on stderr with its field, exit status 2."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(exc: Exception) -> NoReturn:
    """Print `exc` (every `(path, reason)` of a `ValidationError`, one per line) and exit 2."""
    from fabric.errors import ValidationError

    if isinstance(exc, ValidationError):
        for where, why in exc.problems:
            typer.echo(f"error: {where}: {why}" if where else f"error: {why}", err=True)
    else:
        typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)
