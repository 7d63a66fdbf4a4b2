"""`fabric firewall`: The firewall daemon and policy compiler (fabric firewall)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fabric.commands._errors import fail

app = typer.Typer(help="The firewall daemon and policy compiler (fabric firewall).", no_args_is_help=True)


class IsolationMode(StrEnum):
    boundary = "boundary"
    kubernetes = "kubernetes"


Manifests = Annotated[
    list[Path], typer.Option("--manifests", "-m", exists=True, help="Manifest files or directories.")
]
Prefixes = Annotated[
    list[str], typer.Option("--cluster-prefix", help="Node/pod/service prefix of the cluster (repeat).")
]
IsolationOpt = Annotated[IsolationMode, typer.Option("--isolation", help="boundary or kubernetes.")]
StateOpt = Annotated[Path | None, typer.Option("--state", exists=True, help="FirewallState JSON (SNAT).")]


@app.command()
def compile(
    manifests: Manifests,
    cluster_prefix: Prefixes = [],  # noqa: B006 - typer reads the default, never mutates it
    isolation: IsolationOpt = IsolationMode.boundary,
    state: StateOpt = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the nft script.")] = Path(
        "-"
    ),
) -> None:
    """Compile Services, NetworkPolicies, Pods and Namespaces into one `nft -f` script."""
    from fabric.errors import ValidationError
    from fabric.firewall.pipeline import compile_manifests, parse_prefixes
    from fabric.render.nft import render_ruleset

    try:
        compiled, ruleset = compile_manifests(
            manifests, parse_prefixes(cluster_prefix), isolation.value, state
        )
    except ValidationError as exc:
        fail(exc)
    text = render_ruleset(ruleset)
    if str(output) == "-":
        sys.stdout.write(text)
    else:
        output.write_text(text)
    for cond in compiled.conditions:
        if not cond.accepted:
            typer.echo(f"rejected {cond.object}: {cond.reason}", err=True)
    typer.echo(f"{len(compiled.conditions)} object(s), {ruleset.elements} element(s)", err=True)


@app.command()
def explain(
    manifests: Manifests,
    *,
    src: Annotated[str, typer.Option("--src", help="Source address.")],
    dst: Annotated[str, typer.Option("--dst", help="Destination address.")],
    port: Annotated[str, typer.Option("--port", help="N/PROTO, e.g. 443/tcp.")],
    cluster_prefix: Prefixes = [],  # noqa: B006
    isolation: IsolationOpt = IsolationMode.boundary,
    state: StateOpt = None,
) -> None:
    """Say whether a new connection is allowed or denied, and which objects decided (exit 0 / 1)."""
    from fabric.core.policy.explain import explain as explain_flow
    from fabric.core.policy.explain import parse_flow
    from fabric.errors import ValidationError
    from fabric.firewall.pipeline import compile_manifests, parse_prefixes

    try:
        flow = parse_flow(src, dst, port)
        compiled, _ = compile_manifests(manifests, parse_prefixes(cluster_prefix), isolation.value, state)
    except (ValueError, ValidationError) as exc:
        fail(exc)
    result = explain_flow(compiled, flow)
    where = f" ({result.direction})" if result.direction else ""
    typer.echo(f"{result.verdict}{where}: {result.reason}")
    for obj in result.objects:
        typer.echo(f"  {obj}")
    raise typer.Exit(0 if result.verdict == "allow" else 1)


@app.command()
def run(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML configuration (FABRIC_FIREWALL_* override).")
    ] = None,
    adopt: Annotated[bool, typer.Option(help="Take over FRR config fabric did not write.")] = False,
) -> None:
    """Watch the FirewallState and the cluster, keep the nftables table applied, report status."""
    import asyncio

    from fabric.errors import ValidationError
    from fabric.firewall.config import load_config
    from fabric.firewall.daemon import serve
    from fabric.runtime.logs import setup_logging

    try:
        cfg = load_config(config)
    except ValidationError as exc:
        fail(exc)
    setup_logging("text", cfg.log_level)
    asyncio.run(serve(cfg, adopt=adopt))
