"""`fabric apply -f FILE.yaml`: declare partitions, projects, networks, switches and machines."""

from __future__ import annotations

from typing import Annotated

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
    """Create every object the file declares that does not exist yet (objects that exist are kept)."""
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
                    await api.request("POST", f"/v1/{section}", item)
                    typer.echo(f"{section}/{name}: created")
                except ApiError as exc:
                    if exc.status == 409 and "exists already" in exc.detail:
                        typer.echo(f"{section}/{name}: exists")
                    else:
                        failed += 1
                        typer.echo(f"{section}/{name}: {section}[{i}].{exc.field}: {exc.detail}", err=True)
        return failed

    if call(url, token, ca, run):
        raise typer.Exit(1)
