"""OpenAPI 3.1 from the route table and the pydantic models: every route, body, response and error."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from fabric import __version__
from fabric.api.context import Route
from fabric.api.problems import Problem
from fabric.model.names import IFNAME_PATTERN, NAME_PATTERN

REF = "#/components/schemas/{model}"
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "pattern": NAME_PATTERN},
    "port": {"type": "string", "pattern": IFNAME_PATTERN},
    "address": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
}
"""What a path parameter of each name must be (the server refuses anything else with a 4xx)."""
REASONS = {
    304: "Not modified (ETag matches, or the watch timed out)",
    400: "Bad request",
    500: "Internal error",
    401: "No valid token",
    403: "Token out of scope",
    404: "Unknown id",
    409: "Conflict (taken, overlapping, exhausted pool)",
    412: "If-Match names a version the object is no longer at (the problem's etag is the current one)",
    422: "Invalid field",
}


def spec(routes: list[Route]) -> dict[str, Any]:
    """The OpenAPI document of `routes`."""
    models: set[type[BaseModel]] = {Problem}
    for r in routes:
        models.update(m for m in (r.body, r.response) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, defs = models_json_schema([(m, "validation") for m in ordered], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r)
    _link(routes, paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "fabric api", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _link(routes: list[Route], paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links, so that a client (or a stateful test) can chain create → read → update → delete:
    a create answers the new object's `name`, which every operation under `/v1/<kind>/{name}` takes;
    a read answers the ETag that a conditional write on the same path takes as `If-Match`."""
    for r in routes:
        if r.method == "POST" and "{" not in r.path and r.response and "name" in r.response.model_fields:
            # Not the reads of what a daemon reports: a new object has reported nothing yet.
            under = f"{r.path}/{{name}}"
            targets = [t for t in routes if t.path.startswith(under) and t.path != f"{under}/status"]
            _add_links(paths, r, targets, {"name": "$response.body#/name"})
        if r.method == "GET" and r.path.endswith("/{name}") and not r.many:
            targets = [t for t in routes if t.path == r.path and t.conditional]
            given = {"name": "$request.path.name", "header.If-Match": "$response.header.ETag"}
            _add_links(paths, r, targets, given)


def _add_links(
    paths: dict[str, dict[str, Any]], source: Route, targets: list[Route], given: dict[str, str]
) -> None:
    ok = "200" if source.method == "GET" else "2XX"
    links = paths[source.path][source.method.lower()]["responses"][ok].setdefault("links", {})
    for target in targets:
        op_id = paths[target.path][target.method.lower()]["operationId"]
        wanted = {n: v for n, v in given.items() if n.startswith("header.") or f"{{{n}}}" in target.path}
        links[op_id] = {"operationId": op_id, "parameters": wanted}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(r: Route) -> dict[str, Any]:
    params = [
        {"name": n, "in": "path", "required": True, "schema": PATH_SCHEMAS.get(n, {"type": "string"})}
        for n in re.findall(r"{(\w+)}", r.path)
    ]
    for query in r.query:
        param = {"name": query.name, "in": "query", "required": query.required, "schema": query.schema()}
        # An empty value (`?limit=`) is read as an absent parameter: stated, so clients may send it.
        param["allowEmptyValue"] = not query.required
        param["description"] = " ".join(filter(None, [query.description, "An empty value: as if absent."]))
        params.append(param)
    statuses = r.statuses
    if r.conditional:
        params.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "Write only if the object is still at this ETag (its version).",
                "schema": {"type": "string"},
            }
        )
        statuses = (*statuses, 412)
    bare = {"type": "object"} if r.media == "application/json" else {"type": "string"}
    ok_schema: dict[str, Any] = _ref(r.response) if r.response else bare
    if r.many:
        ok_schema = {"type": "array", "items": ok_schema}
    responses: dict[str, Any] = {
        "200" if r.method == "GET" else "2XX": {
            "description": "OK",
            "content": {r.media: {"schema": ok_schema}},
        }
    }
    if not r.public:
        statuses = tuple(sorted({*statuses, 401, 403}))
    problem = {"application/problem+json": {"schema": _ref(Problem)}}
    for status in statuses:
        responses[str(status)] = {"description": REASONS[status]}
        if status != 304:
            responses[str(status)]["content"] = problem
    op: dict[str, Any] = {
        "operationId": f"{r.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', r.path.lower()).strip('_')}",
        "summary": r.summary,
        "parameters": params,
        "responses": responses,
        "x-roles": list(r.roles),
    }
    if r.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(r.body)}}}
    if r.public:
        op["security"] = []
    return op
