"""The aiohttp application of `fabric api serve`: middlewares, routes, /healthz, /metrics, OpenAPI."""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from fabric.adapters.store import tokens
from fabric.adapters.store.commit import CHANNEL
from fabric.adapters.store.engine import Database
from fabric.adapters.store.service import Store
from fabric.adapters.store.tokens import Principal
from fabric.api import browse, declare, resources, state
from fabric.api.auth import PRINCIPAL, Denied, bearer
from fabric.api.context import CONTEXT, Context, Route
from fabric.api.oidc import OidcSettings, OidcVerifier, ProviderUnavailable, Refused
from fabric.api.openapi import spec
from fabric.api.problems import bad_json, from_exception, problem
from fabric.api.responses import Health
from fabric.api.watch import Hub, PgListener

log = logging.getLogger(__name__)
ROUTES: list[Route] = [*resources.ROUTES, *state.ROUTES, *declare.ROUTES]
Middleware = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    """Prometheus metrics of one app (own registry, so several apps can live in one process)."""

    def __init__(self, hub: Hub) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fabric_api_requests", "Requests served", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "fabric_api_request_seconds", "Request latency", ["route"], registry=self.registry
        )
        watchers = Gauge("fabric_api_watchers", "Long-polls parked on a document", registry=self.registry)
        watchers.set_function(lambda: hub.parked)
        fanout = Gauge(
            "fabric_api_watch_fanout_seconds",
            "From the latest change announced to this process to its last watcher answered",
            registry=self.registry,
        )
        fanout.set_function(lambda: hub.fanout)


METRICS = web.AppKey("metrics", Metrics)


@web.middleware
async def _errors(request: web.Request, handler: Middleware) -> web.StreamResponse:
    started = time.perf_counter()
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
    try:
        response = await handler(request)
    except Denied as exc:
        response = problem(403, "forbidden", str(exc), [("authorization", "out of scope")])
    except json.JSONDecodeError as exc:
        response = bad_json(exc)
    except UnicodeDecodeError as exc:  # a body that is not UTF-8 cannot be JSON
        response = problem(
            400, "invalid JSON", f"the body is not UTF-8 (byte {exc.start})", [("body", "not UTF-8")]
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = problem(exc.status, exc.reason, exc.text or exc.reason)
        if "Allow" in exc.headers:  # 405: which methods the path has
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception as exc:
        response = from_exception(exc) or problem(500, "internal error", type(exc).__name__)
        if response.status == 500:
            log.exception("unexpected error on %s %s", request.method, request.path)
    metrics = request.app[METRICS]
    metrics.requests.labels(request.method, route, str(response.status)).inc()
    metrics.latency.labels(route).observe(time.perf_counter() - started)
    return response


def _guarded(route: Route) -> Middleware:
    async def handler(request: web.Request) -> web.StreamResponse:
        principal = await _principal(request)
        if not isinstance(principal, Principal):
            return principal
        if principal.role != "admin" and principal.role not in route.roles:
            raise Denied(principal, f"{route.method} {route.path}")
        request[PRINCIPAL] = principal
        return await route.handler(request)

    return handler


async def _principal(request: web.Request) -> Principal | web.Response:
    """Who calls: a fabric token's principal, or a signed-in user's; else the 401 (or 503) saying why."""
    context = request.app[CONTEXT]
    secret = bearer(request)
    if not secret:
        return _unauthorized("missing", "a bearer token is required")
    if context.oidc is not None and not secret.startswith(tokens.PREFIX):
        try:
            return await context.oidc.principal(secret)
        except Refused as exc:
            return _unauthorized(exc.reason, f"the token was refused: {exc.reason}")
        except ProviderUnavailable as exc:
            log.warning("OIDC sign-in unavailable: %s", exc)
            answer = problem(503, "identity provider unavailable", str(exc), [("authorization", str(exc))])
            answer.headers["Retry-After"] = "10"
            return answer
    principal = await context.store.authenticate(secret)
    return principal or _unauthorized("unknown", "the token is unknown, expired or revoked")


def _unauthorized(reason: str, detail: str) -> web.Response:
    answer = problem(401, "unauthorized", detail, [("authorization", reason)])
    # RFC 6750: a client learns why from the header as well as from the problem document (a request
    # without a token gets no error code).
    challenge = 'Bearer realm="fabric"'
    if reason != "missing":
        description = detail.replace('"', "'").replace("\\", "/")
        challenge += f', error="invalid_token", error_description="{description}"'
    answer.headers["WWW-Authenticate"] = challenge
    return answer


async def _healthz(request: web.Request) -> web.Response:
    async with request.app[CONTEXT].store.db.read() as s:
        from sqlalchemy import text

        await s.execute(text("SELECT 1"))
    return web.json_response({"ok": True})


async def _metrics(request: web.Request) -> web.Response:
    data = generate_latest(request.app[METRICS].registry)
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[SPEC])


SPEC = web.AppKey("openapi", dict)
PUBLIC: list[Route] = [
    Route(
        "GET",
        "/healthz",
        _healthz,
        "Health: the store answers",
        response=Health,
        public=True,
        statuses=(500,),
    ),
    Route("GET", "/metrics", _metrics, "Prometheus metrics", public=True, statuses=(), media="text/plain"),
    Route("GET", "/v1/openapi.json", _openapi, "This OpenAPI 3.1 document", public=True, statuses=()),
    Route(
        "GET",
        "/docs",
        browse.page,
        "Interactive reference (Swagger UI)",
        public=True,
        statuses=(),
        media="text/html",
    ),
    Route(
        "GET",
        "/docs/{asset}",
        browse.asset,
        "The reference page's assets (served from the installed package, no CDN)",
        public=True,
        statuses=(404,),
        media="application/octet-stream",
    ),
]


def build_app(
    db: Database, *, heartbeat_stale: float = 300.0, oidc: OidcSettings | None = None
) -> web.Application:
    """The API over `db` (migrated already); with PostgreSQL it LISTENs for other replicas' commits."""
    app = web.Application(middlewares=[_errors], client_max_size=4 * 1024 * 1024)
    context = Context(store=Store(db), hub=Hub(lambda k, n: state.load_snapshot(context, k, n)))
    context.store.listener = context.hub
    context.heartbeat_stale = heartbeat_stale
    context.oidc = OidcVerifier(oidc) if oidc is not None else None
    app[CONTEXT] = context
    app[METRICS] = Metrics(context.hub)
    app[SPEC] = spec([*ROUTES, *PUBLIC])
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _guarded(route))
    for route in PUBLIC:
        app.router.add_route(route.method, route.path, route.handler)
    if db.dialect == "postgresql":
        listener = PgListener(
            db.url.replace("postgresql+asyncpg://", "postgresql://", 1), CHANNEL, context.hub
        )

        async def _listen(_app: web.Application) -> None:
            await listener.start()

        async def _unlisten(_app: web.Application) -> None:
            await listener.stop()

        app.on_startup.append(_listen)
        app.on_cleanup.append(_unlisten)

    async def _close(_app: web.Application) -> None:
        await db.close()

    app.on_cleanup.append(_close)
    return app


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server TLS context when a certificate is given."""
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


async def prepare(url: str, admin_token: str | None = None) -> Database:
    """Open and migrate the store; make `admin_token` (FABRIC_ADMIN_TOKEN) a valid admin token."""
    from fabric.adapters.store import tokens

    db = Database(url)
    await db.migrate()
    secret = admin_token if admin_token is not None else os.environ.get("FABRIC_ADMIN_TOKEN")
    if secret:
        await db.transaction(lambda s: tokens.ensure_admin(s, secret))
    # The caller serves on another event loop: pooled connections made here belong to this one
    # (asyncpg's would answer "attached to a different loop"), so none is left in the pool.
    await db.engine.dispose()
    return db
