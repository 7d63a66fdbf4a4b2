"""A small STAND-IN for the Kubernetes API server, for the firewall daemon's tests only.

No real Kubernetes API server can run on our machines (no containers, no etcd), so the daemon's
list+watch is tested against this: an aiohttp server in its own thread that serves, for Namespaces,
Pods, Services and NetworkPolicies, what the daemon reads of the real API:

- `GET <collection>?limit=&continue=`: a paged list with `metadata.resourceVersion`;
- `GET <collection>?watch=true&resourceVersion=R&allowWatchBookmarks=true&timeoutSeconds=T`: JSON lines
  of ADDED / MODIFIED / DELETED events after R, BOOKMARK events carrying the current resourceVersion
  every `bookmark_every` seconds, the stream ending after T;
- a watch from a resourceVersion older than the compaction floor answers with an ERROR event of
  code 410 (Expired), as the real server does;
- bearer-token authentication (401 otherwise).

One resourceVersion counter across kinds, like etcd's revision.  Tests drive it from their own thread
(`apply`, `delete`, `expire` ...); every call is marshalled onto the server's event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from aiohttp import web

PATHS = {
    "Namespace": "/api/v1/namespaces",
    "Pod": "/api/v1/pods",
    "Service": "/api/v1/services",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/networkpolicies",
}
API_VERSION = {"NetworkPolicy": "networking.k8s.io/v1"}
CLOSE = object()
Raw = dict[str, Any]


def _key(obj: Raw) -> tuple[str, str]:
    meta = obj["metadata"]
    return str(meta.get("namespace") or ""), str(meta["name"])


class KubeStandIn:
    """Start with `start()`, stop with `stop()`; `kubeconfig(path)` writes a file pointing at it."""

    def __init__(self, token: str = "standin-token", bookmark_every: float = 0.3) -> None:
        self.token, self.bookmark_every = token, bookmark_every
        self.rv = 1
        self.floor = 0  # watches from a resourceVersion below this get 410 Gone
        self.objects: dict[str, dict[tuple[str, str], Raw]] = {k: {} for k in PATHS}
        self.history: dict[str, list[tuple[int, str, Raw]]] = {k: [] for k in PATHS}
        self.streams: dict[str, set[asyncio.Queue[Any]]] = {k: set() for k in PATHS}
        self.lists: Counter[str] = Counter()
        self.watches: Counter[str] = Counter()
        self.bookmarks: Counter[str] = Counter()
        self.gone: Counter[str] = Counter()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="kube-standin")
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> KubeStandIn:
        self._thread.start()
        self._call(self._start)
        return self

    async def _start(self) -> None:
        app = web.Application()
        for kind, path in PATHS.items():
            app.router.add_get(path, self._handler(kind))
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        self._call(self._stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    async def _stop(self) -> None:
        self._drop_streams()
        if self._runner is not None:
            await self._runner.cleanup()

    def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig for this server (http on loopback, bearer token)."""
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "fw", "user": {"token": self.token}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "fw"}}],
            "current-context": "standin",
        }
        path.write_text(json.dumps(cfg))
        return path

    # -- driving it from the test thread -------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        async def run() -> Any:
            out = fn(*args)
            return await out if asyncio.iscoroutine(out) else out

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout=10)

    def apply(self, *objects: Raw) -> int:
        """Create or replace objects (ADDED / MODIFIED events); returns the last resourceVersion."""
        return int(self._call(lambda: [self._apply(o) for o in objects][-1]))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete one object (a DELETED event)."""
        self._call(self._delete, kind, (namespace, name))

    def expire(self, *silent: Raw) -> None:
        """End every watch stream and compact the history; `silent` changes happen meanwhile, so a
        client learns of them only by listing again (after its watch gets 410 Gone)."""

        def run() -> None:
            self._drop_streams()
            for obj in silent:
                self._apply(obj, announce=False)
            self.floor = self.rv  # anything the client saw before is gone; a fresh list is not
            for kind in PATHS:
                self.history[kind].clear()

        self._call(run)

    def current(self) -> int:
        return int(self._call(lambda: self.rv))

    # -- the store -----------------------------------------------------------------------------------
    def _apply(self, obj: Raw, *, announce: bool = True) -> int:
        kind = obj["kind"]
        self.rv += 1
        meta = {**obj["metadata"], "resourceVersion": str(self.rv)}
        stored = {**obj, "apiVersion": API_VERSION.get(kind, "v1"), "metadata": meta}
        event = "MODIFIED" if _key(stored) in self.objects[kind] else "ADDED"
        self.objects[kind][_key(stored)] = stored
        if announce:
            self._publish(kind, event, stored)
        return self.rv

    def _delete(self, kind: str, key: tuple[str, str]) -> None:
        obj = self.objects[kind].pop(key)
        self.rv += 1
        self._publish(
            kind, "DELETED", {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
        )

    def _publish(self, kind: str, event: str, obj: Raw) -> None:
        self.history[kind].append((self.rv, event, obj))
        for queue in self.streams[kind]:
            queue.put_nowait((self.rv, event, obj))

    def _drop_streams(self) -> None:
        for queues in self.streams.values():
            for queue in queues:
                queue.put_nowait(CLOSE)

    # -- HTTP ----------------------------------------------------------------------------------------
    def _handler(self, kind: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return web.json_response(
                    {"kind": "Status", "code": 401, "reason": "Unauthorized"}, status=401
                )
            if request.query.get("watch", "").lower() in ("true", "1"):
                return await self._watch(kind, request)
            return self._list(kind, request)

        return handle

    def _list(self, kind: str, request: web.Request) -> web.Response:
        self.lists[kind] += 1
        limit = int(request.query.get("limit") or 0) or 10**9
        offset, _, rv = (request.query.get("continue") or f"0::{self.rv}").partition("::")
        items = [self.objects[kind][k] for k in sorted(self.objects[kind])]
        page = items[int(offset) : int(offset) + limit]
        more = int(offset) + limit < len(items)
        meta = {"resourceVersion": rv, **({"continue": f"{int(offset) + limit}::{rv}"} if more else {})}
        # List items carry no kind, as the real server sends them.
        body = {"kind": f"{kind}List", "apiVersion": API_VERSION.get(kind, "v1"), "metadata": meta}
        body["items"] = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page]
        return web.json_response(body)

    async def _watch(self, kind: str, request: web.Request) -> web.StreamResponse:
        self.watches[kind] += 1
        since = int(request.query.get("resourceVersion") or 0)
        timeout = float(request.query.get("timeoutSeconds") or 300)
        bookmarks = request.query.get("allowWatchBookmarks", "").lower() in ("true", "1")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        if since < self.floor:
            self.gone[kind] += 1
            status = {"kind": "Status", "status": "Failure", "reason": "Expired", "code": 410,
                      "message": f"too old resource version: {since} ({self.floor})"}  # fmt: skip
            await self._send(resp, "ERROR", status)
            return resp
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.streams[kind].add(queue)
        try:
            for rv, event, obj in list(self.history[kind]):
                if rv > since:
                    queue.put_nowait((rv, event, obj))
            await self._pump(kind, resp, queue, since, timeout, bookmarks)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.streams[kind].discard(queue)
        return resp

    async def _pump(  # noqa: PLR0917 - one stream's state
        self, kind: str, resp: web.StreamResponse, queue: asyncio.Queue[Any], sent: int, timeout: float,
        bookmarks: bool,
    ) -> None:  # fmt: skip
        end = self.loop.time() + timeout
        # One pending get across bookmark timeouts: cancelling a get on timeout (wait_for) can drop
        # an item that arrived at that moment, i.e. lose an event.
        getter: asyncio.Future[Any] | None = None
        try:
            while (left := end - self.loop.time()) > 0:
                getter = getter or asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter}, timeout=min(left, self.bookmark_every))
                if not done:
                    if bookmarks:
                        # The version the bookmark names, taken before the write: an event published
                        # while the write waits for a slow reader is newer, and still sent after it.
                        current = self.rv
                        mark = {"kind": kind, "apiVersion": API_VERSION.get(kind, "v1"),
                                "metadata": {"resourceVersion": str(current)}}  # fmt: skip
                        await self._send(resp, "BOOKMARK", mark)
                        self.bookmarks[kind] += 1
                        sent = max(sent, current)
                    continue
                item, getter = getter.result(), None
                if item is CLOSE:
                    return
                rv, event, obj = item
                if rv > sent:
                    await self._send(resp, event, obj)
                    sent = rv
        finally:
            if getter is not None:
                getter.cancel()

    @staticmethod
    async def _send(resp: web.StreamResponse, event: str, obj: Raw) -> None:
        await resp.write(json.dumps({"type": event, "object": obj}).encode() + b"\n")
