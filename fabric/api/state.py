"""Routes of desired state (ETag, long-poll watch), daemon status, the fleet view, audit and diffs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from fabric.adapters.store import queries
from fabric.adapters.store.schema import Machine
from fabric.api import responses as out
from fabric.api.auth import require
from fabric.api.context import Query, Route, ctx, ok, path_name, strict_body, who
from fabric.api.problems import problem
from fabric.api.watch import Snapshot
from fabric.core.state.diff import diff
from fabric.model import COLLECTIONS, DOCUMENTS
from fabric.model.names import REVISION_MAX
from fabric.model.status import FirewallStatus, SwitchStatus

MAX_WAIT = 600.0
MAX_AUDIT = 1000
WAIT = Query("wait", "number", 0, MAX_WAIT, description="Seconds to wait for a revision newer than `since`.")
SINCE = Query(
    "since", "integer", 0, REVISION_MAX, description="The revision the caller has; the answer is newer."
)
LIMIT = Query("limit", "integer", 1, MAX_AUDIT, description="How many entries, newest first (default 100).")
TARGET = Query("target", description="Only entries about this object.")
FROM = Query("from", "integer", 0, REVISION_MAX, required=True, description="The older revision.")
TO = Query("to", "integer", 0, REVISION_MAX, required=True, description="The newer revision.")


async def load_snapshot(context: Any, kind: str, name: str) -> Snapshot | None:
    row = await context.store.document(kind, name)
    return Snapshot(row.revision, row.hash, row.body) if row is not None else None


def _etag(digest: str) -> str:
    return f'"{digest}"'


def _matches(request: web.Request, digest: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    return any(tag.strip().strip('"').removeprefix("W/").strip('"') == digest for tag in header.split(","))


def _document(request: web.Request, kind: str, name: str, snap: Snapshot | None) -> web.StreamResponse:
    if snap is None or not snap.body:
        return problem(404, "not found", f"{kind} {name} has no desired state", [("name", "no document")])
    headers = {"ETag": _etag(snap.hash), "X-Revision": str(snap.revision)}
    if _matches(request, snap.hash):
        return web.Response(status=304, headers=headers)
    return web.Response(body=snap.body.encode(), content_type="application/json", headers=headers)


async def _authorise_state(request: web.Request, kind: str, name: str) -> None:
    principal = who(request)
    if kind == "machine" and principal.role == "project":
        async with ctx(request).store.db.read() as s:
            m = await s.get(Machine, name)
        require(
            principal, "read another project's machine", roles=("project",), subject=m.project if m else None
        )
    elif principal.role != "project":
        require(principal, f"read the state of {kind} {name}", roles=(kind,), subject=name)
    else:
        require(principal, f"read the state of {kind} {name}")


def _state_handler(kind: str) -> Route:
    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        await _authorise_state(request, kind, name)
        context = ctx(request)
        wait = WAIT.read(request, 0.0)
        since = SINCE.read(request)
        if wait <= 0:
            return _document(request, kind, name, await load_snapshot(context, kind, name))
        # Subscribe before reading, so a commit between the read and the wait is never missed.
        fut = context.hub.subscribe(kind, name)
        try:
            snap = await load_snapshot(context, kind, name)
            if snap is None:
                return _document(request, kind, name, snap)
            if (since is None or snap.revision > since) and not _matches(request, snap.hash):
                return _document(request, kind, name, snap)
            deadline = time.monotonic() + wait
            context.hub.parked += 1
            try:
                while True:
                    try:
                        remaining = max(0.0, deadline - time.monotonic())
                        snap = await asyncio.wait_for(asyncio.shield(fut), remaining)
                    except TimeoutError:
                        headers = {"ETag": _etag(snap.hash), "X-Revision": str(snap.revision)}
                        return web.Response(status=304, headers=headers)
                    if since is None or snap.revision > since:
                        response = _document(request, kind, name, snap)
                        context.hub.answered(snap)
                        return response
                    context.hub.unsubscribe(kind, name, fut)
                    fut = context.hub.subscribe(kind, name)
            finally:
                context.hub.parked -= 1
        finally:
            context.hub.unsubscribe(kind, name, fut)

    model = DOCUMENTS[kind]
    return Route(
        "GET",
        f"/v1/{COLLECTIONS[kind]}/{{name}}/state",
        handler,
        f"Desired {kind} state; ETag/If-None-Match; long-poll with ?wait=SECONDS&since=REVISION",
        response=model,
        roles=("admin", kind) if kind != "machine" else ("admin", "project"),
        query=(WAIT, SINCE),
        statuses=(304, 401, 403, 404, 422),
    )


def _status_handler(kind: str) -> Route:
    model: type[SwitchStatus | FirewallStatus] = SwitchStatus if kind == "switch" else FirewallStatus

    async def handler(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        require(who(request), f"report status of {kind} {name}", roles=(kind,), subject=name)
        status = await strict_body(request, model)
        path_name(request, status.name)
        await ctx(request).store.report_status(who(request), kind, status)
        return ok({"name": name, "received": True}, 202)

    return Route(
        "POST",
        f"/v1/{COLLECTIONS[kind]}/{{name}}/status",
        handler,
        f"Report {kind} status",
        model,
        out.StatusReceived,
        roles=(kind,),
    )


def _status_reader(kind: str) -> Route:
    model: type[SwitchStatus | FirewallStatus] = SwitchStatus if kind == "switch" else FirewallStatus

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        require(who(request), f"read the status of {kind} {name}", roles=(kind,), subject=name)
        reported = await ctx(request).store.status(kind, name)
        if reported is None:
            return problem(404, "not found", f"{kind} {name} has reported no status", [("name", "no status")])
        body, at = reported
        return web.Response(
            text=body, content_type="application/json", headers={"X-Received-At": f"{at:.3f}"}
        )

    return Route(
        "GET",
        f"/v1/{COLLECTIONS[kind]}/{{name}}/status",
        handler,
        f"The last status the {kind} reported, whole (X-Received-At: when, Unix seconds)",
        response=model,
        roles=("admin", kind),
    )


async def fleet(request: web.Request) -> web.Response:
    """Per switch and firewall: desired vs applied revision, outdated, last error, heartbeat age."""
    context = ctx(request)
    return ok(await context.store.fleet(time.time(), context.heartbeat_stale))


async def audit(request: web.Request) -> web.Response:
    limit = LIMIT.read(request, 100)
    async with ctx(request).store.db.read() as s:
        return ok(await queries.audit(s, limit, TARGET.read(request)))


def _diff_handler(kind: str) -> Route:
    async def handler(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        a, b = FROM.read(request), TO.read(request)
        async with ctx(request).store.db.read() as s:
            before = await queries.revision_body(s, kind, name, a)
            after = await queries.revision_body(s, kind, name, b)
        return ok([{"path": p, "from": x, "to": y} for p, x, y in diff(before, after)])

    return Route(
        "GET",
        f"/v1/{COLLECTIONS[kind]}/{{name}}/diff",
        handler,
        f"Diff of a {kind} document",
        response=out.DiffEntry,
        many=True,
        query=(FROM, TO),
    )


ROUTES = [
    *(_state_handler(k) for k in COLLECTIONS),
    *(_status_handler(k) for k in ("switch", "firewall")),
    *(_status_reader(k) for k in ("switch", "firewall")),
    *(_diff_handler(k) for k in COLLECTIONS),
    Route(
        "GET",
        "/v1/status",
        fleet,
        "Fleet view: desired vs applied, outdated, errors, heartbeats",
        response=out.FleetRow,
        many=True,
    ),
    Route(
        "GET",
        "/v1/audit",
        audit,
        "Audit log, newest first",
        response=out.AuditEntry,
        many=True,
        query=(LIMIT, TARGET),
    ),
]
