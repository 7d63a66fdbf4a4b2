"""What every handler reaches through the app: the store, the watch hub, metrics, and the route table."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import pydantic
from aiohttp import web

from fabric.adapters.store.service import Store
from fabric.adapters.store.tokens import Principal
from fabric.api.auth import PRINCIPAL
from fabric.api.oidc import OidcVerifier
from fabric.api.watch import Hub
from fabric.errors import ValidationError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=pydantic.BaseModel)


@dataclass
class Context:
    """Shared state of one API process."""

    store: Store
    hub: Hub
    heartbeat_stale: float = 300.0
    oidc: OidcVerifier | None = None  # users' sign-in, when an issuer is configured


CONTEXT = web.AppKey("context", Context)


@dataclass(frozen=True)
class Query:
    """A query parameter: its type and bounds are what the handler enforces and what OpenAPI states.
    An empty value (`?limit=`) means the parameter is absent."""

    name: str
    kind: str = "string"  # string, integer or number
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    description: str = ""
    pattern: str | None = None  # a string's pattern (e.g. an object name's)

    def schema(self) -> dict[str, Any]:
        """The parameter's JSON Schema."""
        out: dict[str, Any] = {"type": self.kind}
        if self.pattern is not None:
            out["pattern"] = self.pattern
        if self.minimum is not None:
            out["minimum"] = int(self.minimum) if self.kind == "integer" else self.minimum
        if self.maximum is not None:
            out["maximum"] = int(self.maximum) if self.kind == "integer" else self.maximum
        return out

    def read(self, request: web.Request, default: Any = None) -> Any:
        """The parameter's value (`default` when absent or empty); `ValidationError` naming it when it
        is not of its type or out of its bounds (the API answers 422)."""
        text = request.query.get(self.name, "")
        if text == "":
            if self.required:
                raise ValidationError(f"{self.name} is required", self.name)
            return default
        if self.kind == "string":
            if self.pattern is not None and not re.fullmatch(self.pattern, text):
                raise ValidationError(
                    f"{text!r} has characters or a length outside {self.pattern}", self.name
                )
            return text
        value = _integer(text, self.name) if self.kind == "integer" else _number(text, self.name)
        low, high = self.minimum, self.maximum
        if (
            not math.isfinite(value)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise ValidationError(f"{text} is outside {low}..{high}", self.name)
        return value


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not a number", name) from None


def _integer(text: str, name: str) -> float:
    # JSON Schema's integers include 1e3 and 5.0 (a zero fraction); a value of more than 30 digits is
    # outside every bound here and is not expanded (1e999999999 would be a billion digits).
    try:
        number = Decimal(text)
    except ArithmeticError:
        raise ValidationError(f"{text!r} is not an integer", name) from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValidationError(f"{text!r} is not an integer", name)
    return int(number) if number.adjusted() < 30 else math.copysign(math.inf, number)


@dataclass(frozen=True)
class Route:
    """One route and what the OpenAPI document says about it."""

    method: str
    path: str
    handler: Handler
    summary: str
    body: type[pydantic.BaseModel] | None = None
    response: type[pydantic.BaseModel] | None = None
    roles: tuple[str, ...] = ("admin",)
    public: bool = False
    query: tuple[Query, ...] = ()
    statuses: tuple[int, ...] = field(default=(400, 401, 403, 404, 409, 422))
    many: bool = False  # the answer is a list of `response`
    conditional: bool = False  # takes If-Match (412 when stale)
    media: str = "application/json"


def ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]


def who(request: web.Request) -> Principal:
    return request[PRINCIPAL]


async def body(request: web.Request, model: type[M]) -> M:
    """The request body validated as `model` (errors become a 422 naming each field)."""
    return model.model_validate(await request.json(loads=json.loads))


async def strict_body(request: web.Request, model: type[M]) -> M:
    """The request body validated as `model` without coercion ("1" is not an integer, 1 not a
    string): what the OpenAPI document says, for the reports the daemons send."""
    text = (await request.read()).decode("utf-8")
    return model.model_validate(json.loads(text, parse_float=_json_number), strict=True)


def _json_number(text: str) -> int | float:
    # JSON Schema counts 8.0 and 1e2 as integers, so strict validation must take them as such.  A
    # value beyond 64 bits is no valid integer here and stays a float (refused where an int is due).
    value = float(text)
    if value.is_integer() and abs(value) < 2**63:
        return int(Decimal(text))
    return value


def path_name(request: web.Request, named: str) -> str:
    """The path's `{name}`, which a body naming an object (`named`) must repeat: a body for another
    object is refused rather than written under either name."""
    name: str = request.match_info["name"]
    if named != name:
        raise ValidationError(f"the body names {named!r} but the path names {name!r}", "name")
    return name


def ok(data: Any, status: int = 200, version: str | None = None) -> web.Response:
    """A JSON response; `version` (an object version) becomes its ETag."""
    headers = {"ETag": f'"{version}"'} if version else None
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str), headers=headers)


def if_match(request: web.Request) -> str | None:
    """The version an `If-Match` header asks for (quotes and a weak prefix removed), or None."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        return None
    return header.removeprefix("W/").strip().strip('"') or None
