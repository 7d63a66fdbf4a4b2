"""`fabric apply -f FILE.yaml [--prune] [--dry-run]`: declare partitions, projects, networks, switches
and machines; the whole file is one transaction on the server (`POST /v1/apply`)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from fabric.commands._client import Conn, connected

# Order matters: each section may refer to objects of the sections before it.
SECTIONS = ("partitions", "projects", "networks", "switches", "machines")


@connected(output=False)
def apply(
    file: Annotated[str, typer.Option("-f", "--file", help="YAML with partitions, projects, networks, …")],
    *,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also delete objects of the file's kinds, in its partitions, that it no longer names.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    conn: Conn,
) -> None:
    """Create what the file declares and update what changed, all or nothing (an unsafe change, or with
    --prune an object still in use, is refused naming the field or the blocker, and nothing is written)."""
    import yaml

    from fabric.adapters.api_client import ApiClient, ApiError

    with open(file) as fh:
        spec = yaml.safe_load(fh) or {}
    unknown = set(spec) - set(SECTIONS) if isinstance(spec, dict) else {"(not a mapping)"}
    if unknown:
        typer.echo(
            f"error: {file}: unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}", err=True
        )
        raise typer.Exit(2)

    async def run(api: ApiClient) -> Any:
        try:
            return await api.request("POST", "/v1/apply", {**spec, "prune": prune, "dry_run": dry_run})
        except ApiError as exc:
            return exc

    answer = conn.call(run)
    if isinstance(answer, ApiError):
        typer.echo(f"{_object(spec, answer.field)}{answer.field}: {answer.detail}", err=True)
        typer.echo("nothing was applied", err=True)
        raise typer.Exit(1)
    verb = {"created": "would create", "updated": "would update", "deleted": "would delete"}
    for r in answer["results"]:
        action = verb.get(r["action"], r["action"]) if dry_run else r["action"]
        changed = f" ({', '.join(r['changed'])})" if r["changed"] else ""
        typer.echo(f"{r['kind']}/{r['name']}: {action}{changed}")
    if answer["documents"]:
        typer.echo(
            f"documents {'to recompute' if dry_run else 'recomputed'}: {', '.join(answer['documents'])}"
        )
    if dry_run:
        typer.echo("dry run: nothing was written")


def _object(spec: dict[str, Any], field: str) -> str:
    """`networks/NAME: ` for a field `networks[2]…` of the file (so the line names the object)."""
    found = re.match(r"(\w+)\[(\d+)\]", field)
    if not found:
        return ""
    section, index = found.group(1), int(found.group(2))
    items = spec.get(section) or []
    item = items[index] if index < len(items) else None
    return f"{section}/{item.get('name', f'#{index}') if isinstance(item, dict) else f'#{index}'}: "
