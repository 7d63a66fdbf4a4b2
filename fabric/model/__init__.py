"""The contract: desired-state documents shared by the store, the renderers and the daemons.

`load(kind, data)` is the one entry point for untrusted input: it returns a validated document or
raises `fabric.errors.ValidationError` with the JSON path of every problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from fabric.errors import ValidationError
from fabric.model.base import SCHEMA_VERSION, Document, Problems
from fabric.model.canonical import canonical_json, content_hash
from fabric.model.firewall import FirewallState, FirewallVrf, Snat, VrfImport
from fabric.model.machine import MachineState
from fabric.model.prefixes import PATTERN_MEANINGS, AllowedPrefix
from fabric.model.status import FirewallStatus, SwitchStatus
from fabric.model.switch import FirewallPort, Port, Switch, SwitchState, Vrf

DOCUMENTS: dict[str, type[Document]] = {
    "switch": SwitchState,
    "machine": MachineState,
    "firewall": FirewallState,
}
"""Every kind of desired-state document, by its name (the one registry: the API and its client too)."""
COLLECTIONS: dict[str, str] = {"switch": "switches", "machine": "machines", "firewall": "firewalls"}
"""Each document kind's collection in the API's paths (`/v1/<collection>/<name>/state`)."""

D = TypeVar("D", bound=Document)


def load(kind: type[D], data: Any) -> D:
    """Validate `data` (parsed JSON) as a `kind` document; raise `ValidationError` naming each path."""
    try:
        return kind.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(f"invalid {kind.__name__}", problems=problems_of(exc, kind.__name__)) from None


def load_file(kind: type[D], path: str | Path) -> D:
    """Read a JSON or YAML file and `load` it; a parse error names the file and the line."""
    text = Path(path).read_text()
    try:
        data = yaml.safe_load(text) if str(path).endswith((".yaml", ".yml")) else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot parse {path}: {exc}") from None
    return load(kind, data)


def problems_of(exc: pydantic.ValidationError, what: str) -> list[tuple[str, str]]:
    """Turn pydantic's errors into `(path, reason)` pairs; model-level `Problems` keep their own paths."""
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        base = _path(err["loc"])
        inner = err.get("ctx", {}).get("error")
        if isinstance(inner, Problems):
            out.extend((_join(base, p), m) for p, m in inner.problems)
        else:
            out.append((base or what, _reason(err)))
    return out


def _reason(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "string_pattern_mismatch":
        meaning = PATTERN_MEANINGS.get(err["ctx"]["pattern"])
        if meaning:
            return f"{err['input']!r} is not {meaning}"
        return f"{err['input']!r} has characters or a length outside {err['ctx']['pattern']}"
    return msg


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).startswith(("function-", "tagged-union")) and "[" not in str(part):
            text += f".{part}" if text else str(part)
    return text


def _join(base: str, path: str) -> str:
    if not base:
        return path
    return f"{base}{path}" if path.startswith("[") else f"{base}.{path}" if path else base


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every document, keyed by its kind."""
    return {kind: cls.model_json_schema(by_alias=True) for kind, cls in DOCUMENTS.items()}


__all__ = [
    "COLLECTIONS",
    "DOCUMENTS",
    "SCHEMA_VERSION",
    "AllowedPrefix",
    "Document",
    "FirewallPort",
    "FirewallState",
    "FirewallStatus",
    "FirewallVrf",
    "MachineState",
    "Port",
    "Snat",
    "Switch",
    "SwitchState",
    "SwitchStatus",
    "Vrf",
    "VrfImport",
    "canonical_json",
    "content_hash",
    "json_schemas",
    "load",
    "load_file",
]
