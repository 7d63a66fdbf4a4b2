"""`fabric lab`: bring containerlab topologies up on one machine with namespaces and real FRR.

The `lab` package is imported lazily inside the commands: it is test and demo tooling, not needed on a
switch or a firewall.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(help="The namespace lab: containerlab topologies with real FRR, Redis and nftables.")


@app.command()
def demo() -> None:
    """Bring up the demo fabric (topologies/mini.clab.yml) and apply a demo intent."""
    typer.echo(
        "fabric lab demo is not built yet. Once the lab lands it will: bring topologies/mini.clab.yml\n"
        "up in network namespaces (2 spines, 2 leaves, 2 machines, a firewall, an exit router) with real\n"
        "FRR and one Redis per leaf as CONFIG_DB, start fabric api and one fabric switch daemon per\n"
        "switch, allocate two tenants' machines and a firewall, and end with a status table of applied\n"
        "revisions, BGP sessions and a ping matrix.",
        err=True,
    )
    sys.exit(1)
