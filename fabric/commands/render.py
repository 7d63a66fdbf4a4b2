"""`fabric render`: Render device configuration from desired-state documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from fabric.core.observed import Observed
    from fabric.core.ops import Plan

app = typer.Typer(help="Render device configuration from desired-state documents.", no_args_is_help=True)

StateOpt = Annotated[
    Path, typer.Option("--state", exists=True, dir_okay=False, help="The document (JSON/YAML).")
]
OutOpt = Annotated[Path, typer.Option("--out", file_okay=False, help="Directory to write into.")]
FrrVersionOpt = Annotated[
    str | None,
    typer.Option("--frr-version", help="FRR release (capability table); default from the document."),
]
NetnsOpt = Annotated[bool, typer.Option("--netns-vrfs", help="FRR's netns VRF backend (the lab).")]


def _fail(exc: Exception) -> typer.Exit:
    from fabric.errors import ValidationError

    if isinstance(exc, ValidationError):
        for where, why in exc.problems:
            typer.echo(f"error: {where}: {why}" if where else f"error: {why}", err=True)
    else:
        typer.echo(f"error: {exc}", err=True)
    typer.echo("nothing was written", err=True)
    return typer.Exit(1)


def _observed(path: Path | None, tunnel: str) -> Observed:
    """The switch's CONFIG_DB from a file, or a switch with only its base config (VTEP `tunnel`)."""
    from fabric.core.observed import Observed
    from fabric.errors import ValidationError

    if path is None:
        return Observed.from_configdb(
            {
                "VXLAN_TUNNEL": {tunnel: {}},
                "VXLAN_EVPN_NVO": {"nvo": {"source_vtep": tunnel}},
                "LOOPBACK_INTERFACE": {"Loopback0|0.0.0.0/32": {}},
            }
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValidationError(f"cannot parse {path}: {exc}") from None
    frr = path.with_name("frr.conf")
    return Observed.from_configdb(data, frr=frr.read_text() if frr.exists() else None)


@app.command()
def switch(  # noqa: PLR0917 - typer maps parameters to options
    state: StateOpt,
    out: OutOpt,
    observed: Annotated[
        Path | None,
        typer.Option(
            "--observed",
            exists=True,
            dir_okay=False,
            help="The switch's config_db.json (its VLAN map, VTEP name, what it holds); a frr.conf "
            "beside it is taken as the FRR config applied now.",
        ),
    ] = None,
    tunnel: Annotated[str, typer.Option(help="VXLAN_TUNNEL name when there is no --observed.")] = "vtep",
    frr_version: FrrVersionOpt = None,
    netns_vrfs: NetnsOpt = False,
    output: Annotated[str, typer.Option("-o", "--output", help="Plan format: table or json.")] = "table",
) -> None:
    """Write frr.conf and config_db.json of a switch into --out and print the plan."""
    from fabric.core.capabilities import capabilities
    from fabric.core.frr_model import FrrOptions
    from fabric.core.plan import plan_as_data
    from fabric.errors import FabricError
    from fabric.model import SwitchState, load_file
    from fabric.render.switch import plan_switch

    try:
        doc = load_file(SwitchState, state)
        if frr_version:
            capabilities(frr_version)  # an unknown release is refused before anything is written
        options = FrrOptions(frr_version=frr_version, netns_vrfs=netns_vrfs)
        desired, plan = plan_switch(doc, _observed(observed, tunnel), options)
    except FabricError as exc:
        raise _fail(exc) from None
    files = {"frr.conf": desired.frr or "", "config_db.json": json.dumps(desired.configdb, indent=2) + "\n"}
    if any(p.frr == desired.frr_withdraw and p.frr != desired.frr for p in plan.phases):
        files["frr.withdraw.conf"] = desired.frr_withdraw or ""
    _write(out, files)
    labels = {desired.frr or "": "frr.conf", desired.frr_withdraw or "": "frr.withdraw.conf"}
    data = plan_as_data(plan, labels)
    if output == "json":
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_plan(plan, data)


@app.command()
def machine(state: StateOpt, out: OutOpt) -> None:
    """Write the frr.conf of a machine (routing on the host) into --out."""
    from fabric.errors import FabricError
    from fabric.model import MachineState, load_file
    from fabric.render.frr import render_machine_frr

    try:
        text = render_machine_frr(load_file(MachineState, state))
    except FabricError as exc:
        raise _fail(exc) from None
    _write(out, {"frr.conf": text})


def _write(out: Path, files: dict[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
        typer.echo(f"wrote {out / name}", err=True)


def _print_plan(plan: Plan, data: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140))
    if plan.empty:
        console.print("plan: nothing to change")
        return
    table = Table(title="plan")
    for name in ("phase", "step", "key"):
        table.add_column(name, no_wrap=True)
    table.add_column("fields")
    for phase in data:
        if phase["frr"]:
            table.add_row(phase["phase"], "frr reload", phase["frr"], "")
        for op in phase["ops"]:
            fields = " ".join(f"{k}={v}" for k, v in op.get("fields", {}).items())
            drop = " ".join(f"-{f}" for f in op.get("drop", []))
            table.add_row(phase["phase"], op["op"], op["key"], " ".join(x for x in (fields, drop) if x))
        for wait in phase["waits"]:
            state = "present" if wait["present"] else "gone"
            table.add_row(phase["phase"], "wait", f"STATE_DB {wait['table']}|{wait['key']}", state)
    console.print(table)
