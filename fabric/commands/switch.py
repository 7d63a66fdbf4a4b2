"""`fabric switch`: the switch-resident daemon (run, plan, check)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(help="The switch-resident daemon (fabric switch).", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="FABRIC_SWITCH_CONFIG", help="YAML configuration file."),
]
StateOpt = Annotated[
    Path | None,
    typer.Option("--state", help="Read the SwitchState from this file instead of the API (config's api)."),
]


def _config(path: Path | None) -> Any:
    from fabric.errors import ValidationError
    from fabric.switch.config import load_config

    try:
        return load_config(path)
    except ValidationError as exc:
        for where, why in exc.problems:
            typer.echo(f"{where}: {why}", err=True)
        raise typer.Exit(2) from None


def _planner(cfg: Any) -> Any:
    from fabric.switch.planner import load_planner

    return load_planner(cfg.frr.vrf_backend, cfg.frr.netns_vrfs_always)


@app.command()
def run(
    config: ConfigOpt = None,
    state: StateOpt = None,
    status_file: Annotated[Path | None, typer.Option(help="Write status here (with --state).")] = None,
    adopt: Annotated[bool, typer.Option(help="Take over FRR config fabric did not write.")] = False,
    force: Annotated[bool, typer.Option(help="Apply even when the guard refuses (dangerous).")] = False,
) -> None:
    """Watch the desired state, apply it to CONFIG_DB and FRR, report status (runs until stopped)."""
    from fabric.runtime.logs import setup_logging

    cfg = _config(config)
    setup_logging(cfg.log_format)
    planner = _planner(cfg)
    asyncio.run(_run(cfg, state, status_file, planner, adopt=adopt, force=force))


async def _run(cfg: Any, state: Path | None, status_file: Path | None, planner: Any, **flags: bool) -> None:
    from fabric.runtime.api import api_client
    from fabric.switch.metrics import SwitchMetrics
    from fabric.switch.sources import ApiSink, ApiSource, FileSink, FileSource

    metrics = SwitchMetrics()
    if cfg.metrics_port:
        metrics.serve(cfg.metrics_port)
    if state is not None:
        source, sink = FileSource(state), FileSink(status_file or state.with_suffix(".status.json"))
        await _serve(cfg, source, sink, planner, metrics=metrics, flags=flags)
        return
    async with api_client(cfg.api) as client:
        await _serve(cfg, ApiSource(client, cfg.name), ApiSink(client), planner, metrics=metrics, flags=flags)


async def _serve(
    cfg: Any, source: Any, sink: Any, planner: Any, *, metrics: Any, flags: dict[str, bool]
) -> None:
    from fabric.adapters import sdnotify
    from fabric.switch.daemon import build_loop

    loop, db = build_loop(cfg, source, sink, planner, metrics=metrics, **flags)
    try:
        await loop.run(watchdog=sdnotify.watchdog_interval())
    finally:
        sdnotify.notify("STOPPING=1")
        await db.close()


async def _desired(cfg: Any, state_path: Path | None) -> Any:
    """The switch's desired `SwitchState`: from `state_path`, else from `fabric api` (``cfg.api``)."""
    from fabric.model import load_file

    if state_path is not None:
        from fabric.model.switch import SwitchState

        return load_file(SwitchState, state_path)
    from fabric.runtime.api import api_client
    from fabric.switch.sources import ApiSource

    async with api_client(cfg.api) as client:
        return await ApiSource(client, cfg.name).get()


def _fail(command: str, exc: Exception) -> NoReturn:
    """Print a fabric or API error for the user and exit 1; anything else is a bug and propagates."""
    from fabric.adapters.api_client import ApiError
    from fabric.errors import FabricError

    if not isinstance(exc, FabricError | ApiError | OSError):
        raise exc
    typer.echo(f"fabric switch {command}: {exc}", err=True)
    raise typer.Exit(1) from None


@app.command()
def plan(
    config: ConfigOpt = None,
    state: StateOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Show what a sync would change on this switch (CONFIG_DB phases, FRR delta); applies nothing."""
    cfg = _config(config)
    planner = _planner(cfg)
    try:
        out = asyncio.run(_plan(cfg, state, planner))
    except Exception as exc:
        _fail("plan", exc)
    typer.echo(json.dumps(out, indent=2) if as_json else _plan_text(out))


async def _plan(cfg: Any, state_path: Path | None, planner: Any) -> dict[str, Any]:
    from fabric.adapters.configdb import SonicDb
    from fabric.adapters.frr import FrrAdapter
    from fabric.switch.daemon import db_layout, limits
    from fabric.switch.describe import describe_plan
    from fabric.switch.sync import Syncer, final_frr

    state = await _desired(cfg, state_path)
    db = SonicDb(db_layout(cfg))
    frr = FrrAdapter(cfg.frr)
    try:
        syncer = Syncer(db, frr, planner, limits(cfg))
        the_plan, tables = await syncer.prepare(state)
        text = final_frr(the_plan)
        delta = (await asyncio.to_thread(frr.delta, text)).lines() if text is not None else []
        return describe_plan(the_plan, tables, limits(cfg), delta)
    finally:
        await db.close()


def _plan_text(out: dict[str, Any]) -> str:
    lines = []
    for phase in out["phases"]:
        lines.append(f"phase {phase['name']}:")
        lines += [f"  {op}" for op in phase["ops"]]
        lines += [f"  wait {w}" for w in phase["waits"]]
        if phase["frr"]:
            lines.append("  reload FRR")
    lines += [f"frr {line}" for line in out["frr_delta"]]
    g = out["guard"]
    lines.append(
        f"guard: {len(g['ports_down'])}/{g['total_ports']} ports down, "
        f"{len(g['vrfs_down'])}/{g['total_vrfs']} VRFs removed"
        + (f" — REFUSED: {g['reason']}" if g["refused"] else "")
    )
    return "\n".join(lines) if out["phases"] else "nothing to change\n" + lines[-1]


@app.command()
def check(config: ConfigOpt = None, state: StateOpt = None) -> None:
    """Check the switch's preconditions (VTEP, loopback, PXE VLAN, ports, split mode, FRR version)."""
    cfg = _config(config)
    try:
        missing = asyncio.run(_check(cfg, state))
    except Exception as exc:
        _fail("check", exc)
    for line in missing:
        typer.echo(f"missing: {line}", err=True)
    if not missing:
        typer.echo("all preconditions met")
    sys.exit(1 if missing else 0)


async def _check(cfg: Any, state_path: Path | None) -> list[str]:
    from fabric.adapters.configdb import SonicDb
    from fabric.adapters.frr import FrrAdapter
    from fabric.core.guard import missing_preconditions
    from fabric.switch.daemon import db_layout

    state = await _desired(cfg, state_path)
    db = SonicDb(db_layout(cfg))
    try:
        tables = await db.read_tables()
    finally:
        await db.close()
    version = await asyncio.to_thread(FrrAdapter(cfg.frr).version)
    return missing_preconditions(state, tables, version)
