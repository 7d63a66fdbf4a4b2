"""`fabric apply -f FILE.yaml`: declare partitions, projects, networks, switches and machines."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fabric.commands._client import DEFAULT_URL, Ca, Token, Url, call

# Order matters: each section may refer to objects of the sections before it.
SECTIONS = ("partitions", "projects", "networks", "switches", "machines")


def apply(
    file: Annotated[str, typer.Option("-f", "--file", help="YAML with partitions, projects, networks, …")],
    *,
    url: Url = DEFAULT_URL,
    token: Token = None,
    ca: Ca = None,
) -> None:
    """Create what the file declares and update what changed (unsafe changes are refused naming the
    field; objects the file does not mention are left alone: delete them with `fabric api delete`)."""
    import yaml

    from fabric.adapters.api_client import ApiClient, ApiError

    with open(file) as fh:
        spec = yaml.safe_load(fh) or {}
    unknown = set(spec) - set(SECTIONS)
    if unknown:
        typer.echo(
            f"error: {file}: unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}", err=True
        )
        raise typer.Exit(2)

    async def run(api: ApiClient) -> int:
        failed = 0
        for section in SECTIONS:
            for i, item in enumerate(spec.get(section) or []):
                name = item.get("name", f"#{i}") if isinstance(item, dict) else f"#{i}"
                try:
                    typer.echo(f"{section}/{name}: {await _apply_one(api, section, name, item)}")
                except ApiError as exc:
                    failed += 1
                    typer.echo(f"{section}/{name}: {section}[{i}].{exc.field}: {exc.detail}", err=True)
        return failed

    if call(url, token, ca, run):
        raise typer.Exit(1)


async def _apply_one(api: Any, section: str, name: str, item: Any) -> str:
    """Create the object, or update it when it exists; what happened, for the report."""
    from fabric.adapters.api_client import ApiError

    try:
        await api.request("POST", f"/v1/{section}", item)
        return "created"
    except ApiError as exc:
        if not (exc.status == 409 and "exists already" in exc.detail):
            raise
    updated = await api.request("PUT", f"/v1/{section}/{name}", item)
    return f"updated ({', '.join(updated['changed'])})" if updated["changed"] else "unchanged"
