"""The `fabric` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from fabric import __version__
from fabric.commands import api, apply, firewall, image, lab, render, status, switch, token

app = typer.Typer(
    help="fabric: intent-driven BGP-EVPN fabrics of SONiC switches, machines and firewalls.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(api.app, name="api")
app.add_typer(switch.app, name="switch")
app.add_typer(firewall.app, name="firewall")
app.add_typer(render.app, name="render")
app.add_typer(image.app, name="image")
app.add_typer(lab.app, name="lab")
app.add_typer(token.app, name="token")
app.command(name="apply")(apply.apply)
app.command(name="status")(status.status)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fabric {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """fabric: intent-driven BGP-EVPN fabrics of SONiC switches, machines and firewalls."""


@app.command()
def schema(
    kind: Annotated[str | None, typer.Argument(help="switch, machine or firewall; all when omitted.")] = None,
) -> None:
    """Print the JSON Schema of the desired-state documents."""
    from fabric.model import DOCUMENTS, json_schemas

    schemas = json_schemas()
    if kind is not None and kind not in schemas:
        typer.echo(f"unknown document kind {kind!r}; choose one of {', '.join(DOCUMENTS)}", err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps(schemas[kind] if kind else schemas, indent=2, sort_keys=True))


@app.command()
def validate(
    kind: Annotated[str, typer.Argument(help="switch, machine or firewall.")],
    files: Annotated[list[Path], typer.Argument(help="JSON or YAML documents.", exists=True)],
) -> None:
    """Validate desired-state documents; print each problem with its path."""
    from fabric.errors import ValidationError
    from fabric.model import DOCUMENTS, load_file

    if kind not in DOCUMENTS:
        typer.echo(f"unknown document kind {kind!r}; choose one of {', '.join(DOCUMENTS)}", err=True)
        raise typer.Exit(2)
    failed = False
    for path in files:
        try:
            doc = load_file(DOCUMENTS[kind], path)
        except ValidationError as exc:
            failed = True
            for where, why in exc.problems:
                typer.echo(f"{path}: {where}: {why}", err=True)
        else:
            typer.echo(f"{path}: valid, {doc.sealed().hash}")
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
