"""`fabric lab`: bring containerlab topologies up on one machine with namespaces and real FRR.

The `lab` package is imported lazily inside the commands: it is test and demo tooling, not needed on a
switch or a firewall.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="The namespace lab: containerlab topologies with real FRR, Redis and nftables.")
kube = typer.Typer(
    help="The lab's cluster: Namespaces, Pods, Services and NetworkPolicies served by a Kubernetes "
    "API STAND-IN (no real API server runs here); fw01's daemon watches it."
)
app.add_typer(kube, name="kube")


@app.command()
def demo(
    file: Annotated[
        Path | None, typer.Option(help="Topology (default: the repository's mini.clab.yml).")
    ] = None,
) -> None:
    """Bring the demo fabric up (topologies/mini.clab.yml), apply two tenants, a firewall, and show
    the converged fabric: applied revisions, BGP sessions, a ping matrix."""
    from rich.console import Console

    from fabric.errors import FabricError
    from lab import fabric_lab
    from lab.demo import run_demo
    from lab.state import LabState

    console = Console()
    path = file or Path(fabric_lab.__file__).resolve().parents[1] / "topologies" / "mini.clab.yml"
    try:
        with console.status("bringing the lab up (namespaces, FRR, Redis, lldpd, fabric api, daemons)") as st:

            def step(text: str) -> None:
                console.log(text)
                st.update(text)

            state = fabric_lab.up(path, progress=lambda line: step(f"firewall image: {line}"))
            console.log(f"lab {state.name} up: {len(state.nodes)} nodes, fabric api at {state.api_url}")

            report = run_demo(LabState.load(state.name), Path(state.api_dir or "."), step)
    except (FabricError, AssertionError) as exc:
        _fail(exc)
        return
    _print_demo(console, state.name, report)


def _print_demo(console: Any, name: str, report: Any) -> None:
    from rich.table import Table

    switches = Table(title="switches (desired state from fabric api, applied by fabric switch)")
    for column in ("switch", "desired rev", "applied rev", "outdated", "BGP established"):
        switches.add_column(column)
    for row in (r for r in report.fleet if r["kind"] == "switch"):
        sessions = report.bgp.get(row["name"], {})
        up = sum(1 for s in sessions.values() if s == "Established")
        switches.add_row(
            row["name"],
            str(row["desired_revision"]),
            str(row["applied_revision"]),
            "yes" if row["outdated"] else "no",
            f"{up}/{len(sessions)}",
        )
    console.print(switches)
    names = sorted(report.ips)
    matrix = Table(title="ping matrix (real ICMP between machines' own addresses)")
    matrix.add_column("from \\ to")
    for b in names:
        matrix.add_column(f"{b} ({report.tenants[b]}) {report.ips[b]}")
    for a in names:
        cells = [
            "-" if a == b else ("[green]reaches[/]" if report.matrix[a, b] else "[red]isolated[/]")
            for b in names
        ]
        matrix.add_row(f"{a} ({report.tenants[a]})", *cells)
    console.print(matrix)
    if report.north_south is not None:
        _print_north_south(console, report.north_south)
    for note in report.notes:
        console.print(f"[yellow]stand-ins:[/] {note}")
    fabric = _fabric_command()
    console.print(
        f"explore:   {fabric} lab exec {name} leaf01 -- vtysh -c 'show bgp vrf all summary'\n"
        f"           {fabric} lab status {name}\n"
        f"tear down: {fabric} lab down {name}   (or make lab-down)"
    )


def _print_north_south(console: Any, ns: Any) -> None:
    from rich.table import Table

    status = ns.status
    sync = status.get("sync", {})
    sessions = ", ".join(f"{b['peer']} {b['state']}" for b in status.get("bgp", []))
    console.print(
        f"{ns.firewall} (the firewall image in qemu): applied revision {sync.get('applied_revision')}, "
        f"{status.get('rules')} rules, {status.get('elements')} elements; BGP {sessions}; "
        f"own internet address {', '.join(ns.firewall_ips)}; load-balancer IP {ns.balanced}"
    )
    policy = "NetworkPolicy shop/web-to-internet, Service shop/web"
    flows = Table(title=f"north-south through {ns.firewall} (real TCP; {policy})")
    for column in ("flow", "expected", "seen", "source the server saw", ""):
        flows.add_column(column)
    for o in ns.outcomes:
        mark = "[green]as expected[/]" if o.as_expected else "[red]NOT as expected[/]"
        verdict = {True: "allowed", False: "denied"}
        expected = verdict[o.flow.allowed] + (f" from {o.flow.seen_as}" if o.flow.seen_as else "")
        flows.add_row(o.flow.name, expected, verdict[o.answered], o.seen or "-", mark)
    console.print(flows)
    console.print(
        f"policy changed live to allow tcp/{ns.flipped.port}: {ns.flipped.name} passed "
        f"{ns.flip_seconds:.2f} s after the change (stand-in API -> {ns.firewall}'s daemon -> nftables)"
    )


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


@app.command()
def up(
    file: Annotated[Path, typer.Argument(help="A containerlab topology (*.clab.yml).", exists=True)],
    firewall_vm: Annotated[
        bool,
        typer.Option(help="Firewall nodes boot the firewall machine image in qemu (else: a namespace)."),
    ] = True,
) -> None:
    """Bring a topology up: namespaces, links, FRR underlay, Redis per switch, lldpd, SONiC stand-ins."""
    from fabric.errors import FabricError, ValidationError
    from lab import fabric_lab

    try:
        state = fabric_lab.up(
            file, firewall_vms=firewall_vm, progress=lambda line: typer.echo(f"image: {line}")
        )
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


def _fabric_command() -> str:
    """How the user calls fabric again: `fabric` when that is on PATH, else the path this run came from.

    `make lab` runs `.venv/bin/fabric`, which a fresh shell does not have on its PATH.
    """
    me = Path(sys.argv[0]).resolve()
    found = shutil.which("fabric")
    if found and Path(found).resolve() == me:
        return "fabric"
    try:
        return str(me.relative_to(Path.cwd()))
    except ValueError:
        return str(me)


def _kube_change(name: str, files: list[Path], verb: str) -> None:
    from fabric.core.policy.manifests import flatten
    from fabric.firewall.manifests import manifest_files, read_documents
    from lab.kube import StandInError, change
    from lab.state import LabError, LabState

    try:
        state = LabState.load(name)
    except LabError as exc:
        _fail(exc)
        return
    if not state.kube_url or not state.kube_token_file:
        _fail(LabError(f"lab {name} runs no Kubernetes stand-in"))
        return
    objects = [o for path in manifest_files(files) for o in flatten(read_documents(path))]
    try:
        version = change(state.kube_url, Path(state.kube_token_file).read_text().strip(), verb, objects)
    except StandInError as exc:
        for where, why in exc.problems:
            typer.echo(f"objects{where}: {why}" if where else why, err=True)
        typer.echo(f"nothing {'applied' if verb == 'apply' else 'deleted'}", err=True)
        raise typer.Exit(1) from None
    done = "applied" if verb == "apply" else "deleted"
    typer.echo(f"{len(objects)} objects {done} (Kubernetes stand-in, resourceVersion {version})")


Files = Annotated[
    list[Path], typer.Option("-f", "--filename", help="Manifests (files or directories).", exists=True)
]
LabName = Annotated[str, typer.Argument(help="The lab (its topology name).")]


@kube.command("apply")
def kube_apply(name: LabName, files: Files) -> None:
    """Create or replace objects in the lab's cluster (all of them, or none when one is refused)."""
    _kube_change(name, files, "apply")


@kube.command("delete")
def kube_delete(name: LabName, files: Files) -> None:
    """Delete the objects the manifests name from the lab's cluster (all of them, or none)."""
    _kube_change(name, files, "delete")
