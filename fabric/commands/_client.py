"""Shared pieces of the client commands: connection options, running a call, printing tables or JSON."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")

Url = Annotated[str, typer.Option("--url", envvar="FABRIC_URL", help="API base URL.")]
Token = Annotated[str | None, typer.Option("--token", envvar="FABRIC_TOKEN", help="Bearer token.")]
TokenCommand = Annotated[
    str | None,
    typer.Option(
        "--token-command",
        envvar="FABRIC_TOKEN_COMMAND",
        help="A command printing the bearer token (e.g. an OIDC helper); used when no --token is given.",
    ),
]
Ca = Annotated[str | None, typer.Option("--ca", envvar="FABRIC_CA", help="CA certificate to pin.")]
Output = Annotated[str, typer.Option("-o", "--output", help="table or json.")]
DEFAULT_URL = os.environ.get("FABRIC_URL", "http://127.0.0.1:8080")


@dataclass(frozen=True)
class Conn:
    """How a command reaches the API (`--url`, `--token`, `--ca`) and prints the answer (`-o`)."""

    url: str
    token: str | None
    ca: str | None
    output: str = "table"

    def call(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run `fn(api)` against the API (see `call`)."""
        return call(self.url, self.token, self.ca, fn)

    def show(self, fn: Callable[[Any], Awaitable[Any]]) -> None:
        """Run `fn(api)` and print its answer as `-o` says."""
        show(self.call(fn), self.output)


def connected(*, output: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the shared `--url/--token/--ca` options (and `-o/--output` unless `output=False`),
    appended after its own options, and hand them to it as one keyword argument `conn: Conn`.

    Each command keeps the options under its own name (`fabric api list --url …`), so they cannot
    live on a group callback; typer reads the signature this sets.
    """
    shared = [
        inspect.Parameter("url", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_URL, annotation=Url),
        inspect.Parameter("token", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Token),
        inspect.Parameter(
            "token_command", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=TokenCommand
        ),
        inspect.Parameter("ca", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Ca),
    ]
    if output:
        shared.append(
            inspect.Parameter("output", inspect.Parameter.KEYWORD_ONLY, default="table", annotation=Output)
        )

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(fn, eval_str=True)

        @functools.wraps(fn)
        def command(
            *args: Any,
            url: str,
            token: str | None,
            token_command: str | None,
            ca: str | None,
            output: str = "table",
            **kwargs: Any,
        ) -> None:
            if token is None and token_command:
                token = token_from(token_command)
            fn(*args, conn=Conn(url, token, ca, output), **kwargs)

        params = [p for p in own.parameters.values() if p.name != "conn"]
        command.__signature__ = own.replace(parameters=params + shared)  # type: ignore[attr-defined]
        return command

    return decorate


def token_from(command: str) -> str:
    """The token `command` prints: the bare token, or JSON holding it as a Kubernetes ExecCredential
    (`status.token`, what kubelogin prints) or an OAuth token response (`id_token`, `access_token`).
    A failing command exits 1 with its error; the token is never printed."""
    import shlex

    from fabric.adapters.process import run

    result = run(shlex.split(command), timeout=120)
    if not result.ok:
        typer.echo(f"error: --token-command: {result.describe()}", err=True)
        raise typer.Exit(1)
    text = result.stdout.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = {}
        found = data.get("status", {}).get("token") or data.get("id_token") or data.get("access_token")
        if not found:
            typer.echo("error: --token-command printed JSON without a token", err=True)
            raise typer.Exit(1)
        return str(found)
    if not text or len(text.split()) != 1:
        typer.echo("error: --token-command printed no single token", err=True)
        raise typer.Exit(1)
    return text


def call(url: str, token: str | None, ca: str | None, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(api)` against the API; an API error is printed with its field and exits 1."""
    from fabric.adapters.api_client import ApiClient, ApiError

    async def main() -> T:
        async with ApiClient(url, token, ca=ca) as api:
            return await fn(api)

    try:
        return asyncio.run(main())
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from None


def show(data: Any, output: str) -> None:
    """Print `data` as JSON or as a table (a list of rows, or one row as field/value)."""
    if output == "json":
        typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    rows = data if isinstance(data, list) else None
    table = Table(show_edge=False)
    if rows is None:
        table.add_column("field")
        table.add_column("value")
        for k, v in (data or {}).items():
            table.add_row(str(k), _cell(v))
    else:
        columns = list(dict.fromkeys(k for r in rows for k in r))
        for c in columns:
            table.add_column(c)
        for r in rows:
            table.add_row(*(_cell(r.get(c)) for c in columns))
    Console(width=200).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def load_body(file: str | None, pairs: list[str]) -> dict[str, Any]:
    """A request body from a JSON/YAML file and/or `key=value` pairs (values parsed as YAML)."""
    import yaml

    data: dict[str, Any] = {}
    if file:
        with open(file) as fh:
            data = yaml.safe_load(fh) or {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r} is not key=value")
        data[key] = yaml.safe_load(value)
    return data
