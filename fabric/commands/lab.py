"""`fabric lab`: bring containerlab topologies up on one machine with namespaces and real FRR.

The `lab` package is imported lazily inside the commands: it is test and demo tooling, not needed on a
switch or a firewall.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

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


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


@app.command()
def up(
    file: Annotated[Path, typer.Argument(help="A containerlab topology (*.clab.yml).", exists=True)],
) -> None:
    """Bring a topology up: namespaces, links, FRR underlay, Redis per switch, lldpd, SONiC stand-ins."""
    from fabric.errors import FabricError, ValidationError
    from lab import fabric_lab

    try:
        state = fabric_lab.up(file)
    except ValidationError as exc:
        for where, why in exc.problems:
            typer.echo(f"{file}: {where}: {why}", err=True)
        _fail(exc)
        return
    except FabricError as exc:
        _fail(exc)
        return
    typer.echo(f"lab {state.name} is up ({len(state.nodes)} nodes, prefix {state.prefix})")
    for record in state.nodes.values():
        extra = f"  lo {record.loopback}  AS {record.asn}" if record.loopback else ""
        typer.echo(f"  {record.name:<12} {record.role:<8} netns {record.netns}{extra}")
    typer.echo(f"status: fabric lab status {state.name}    remove: fabric lab down {state.name}")


@app.command()
def down(name: Annotated[str, typer.Argument(help="The lab (its topology name).")]) -> None:
    """Remove everything the lab created: daemons (by recorded PID), mounts, namespaces, temp dirs."""
    from fabric.errors import FabricError
    from lab import fabric_lab

    try:
        removed = fabric_lab.down(name)
    except FabricError as exc:
        _fail(exc)
        return
    typer.echo(f"lab {name} removed ({len(removed)} resources)")


@app.command()
def status(
    name: Annotated[str, typer.Argument(help="The lab (its topology name).")],
    output: Annotated[str, typer.Option("-o", "--output", help="table or json.")] = "table",
) -> None:
    """Nodes, namespaces, addresses, daemons (PID, alive) and the switches' BGP sessions."""
    from fabric.errors import FabricError
    from lab import fabric_lab

    try:
        report = fabric_lab.status(name)
    except FabricError as exc:
        _fail(exc)
        return
    if output == "json":
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"lab {report['name']} ({report['topology']})")
    for node in report["nodes"]:
        daemons = " ".join(f"{d}:{'up' if info['alive'] else 'DEAD'}" for d, info in node["daemons"].items())
        # The table leaves out link-local addresses (every port has one); `-o json` has them all.
        addresses = ", ".join(
            a for addrs in node["addresses"].values() for a in addrs if not a.startswith("fe80:")
        )
        typer.echo(f"  {node['name']:<12} {node['role']:<8} {node['netns']:<24} {addresses}")
        if daemons:
            typer.echo(f"      daemons: {daemons}")
        if node.get("bgp"):
            typer.echo("      bgp: " + " ".join(f"{p}={s}" for p, s in node["bgp"].items()))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec(
    name: Annotated[str, typer.Argument(help="The lab (its topology name).")],
    node: Annotated[str, typer.Argument(help="The node to run in.")],
    command: Annotated[list[str], typer.Argument(help="The command (after --).")],
) -> None:
    """Run a command in a node's namespace under its hostname (vtysh, redis-cli, lldpctl find the
    node's own daemons), e.g. `fabric lab exec mini leaf01 -- vtysh -c 'show bgp summary'`."""
    from fabric.errors import FabricError
    from lab import fabric_lab
    from lab.state import LabState

    try:
        record = LabState.load(name).node(node)
    except FabricError as exc:
        _fail(exc)
        return
    argv = fabric_lab.exec_argv(record, command)
    sys.stdout.flush()
    os.execvp(argv[0], argv)
