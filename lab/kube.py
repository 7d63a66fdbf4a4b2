"""A small STAND-IN for the Kubernetes API server: the lab's cluster and the firewall daemon's tests.

No real Kubernetes API server can run on our machines (no containers, no etcd), so the lab serves its
cluster from this, and the daemon's list+watch is tested against it: an aiohttp server in its own
thread that serves, for Namespaces, Pods, Services and NetworkPolicies, what the daemon reads of the
real API:

- `GET <collection>?limit=&continue=`: a paged list with `metadata.resourceVersion`;
- `GET <collection>?watch=true&resourceVersion=R&allowWatchBookmarks=true&timeoutSeconds=T`: JSON lines
  of ADDED / MODIFIED / DELETED events after R, BOOKMARK events carrying the current resourceVersion
  every `bookmark_every` seconds, the stream ending after T;
- a watch from a resourceVersion older than the compaction floor answers with an ERROR event of
  code 410 (Expired), as the real server does;
- bearer-token authentication (401 otherwise).

One resourceVersion counter across kinds, like etcd's revision.  Tests drive it from their own thread
(`apply`, `delete`, `expire` ...); every call is marshalled onto the server's event loop.  A lab runs
it as a process (``python -m lab.kube``) and changes objects over HTTP with two endpoints no real
server has, `POST /stand-in/apply` and `POST /stand-in/delete` (`fabric lab kube apply|delete -f`):
each takes a list of objects, checks all of them first and changes none when one is refused.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import urllib.error
import urllib.request
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


def object_problems(obj: Raw) -> list[tuple[str, str]]:
    """Why the stand-in cannot store `obj` (empty when it can): a kind it serves, a name, a namespace."""
    kind, meta = obj.get("kind"), obj.get("metadata")
    if kind not in PATHS:
        return [(".kind", f"{kind!r} is not one the stand-in serves ({', '.join(PATHS)})")]
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        return [(".metadata.name", f"a {kind} needs a name")]
    if kind != "Namespace" and not (isinstance(meta.get("namespace"), str) and meta["namespace"]):
        return [(".metadata.namespace", f"{kind} {meta['name']} needs a namespace")]
    return []


def kubeconfig(url: str, token: str) -> str:
    """A kubeconfig (JSON, which is YAML) for the stand-in at `url` with bearer `token`."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": url}}],
            "users": [{"name": "firewall", "user": {"token": token}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "firewall"}}],
            "current-context": "standin",
        }
    )


def objects_problems(objects: list[Raw]) -> list[tuple[str, str]]:
    """`object_problems` of every object, the path prefixed with its index (`[2].metadata.name`)."""
    return [(f"[{i}]{where}", why) for i, o in enumerate(objects) for where, why in object_problems(o)]


def _key(obj: Raw) -> tuple[str, str]:
    meta = obj["metadata"]
    return str(meta.get("namespace") or ""), str(meta["name"])


class KubeStandIn:
    """Start with `start()`, stop with `stop()`; `kubeconfig(path)` writes a file pointing at it."""

    def __init__(
        self,
        token: str = "standin-token",
        bookmark_every: float = 0.3,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token, self.bookmark_every, self.host = token, bookmark_every, host
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
        self.port = port
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
        app.router.add_post("/stand-in/apply", self._change(self._apply_all))
        app.router.add_post("/stand-in/delete", self._change(self._delete_all))
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
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
        path.write_text(kubeconfig(f"http://127.0.0.1:{self.port}", self.token))
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

    def _apply_all(self, objects: list[Raw]) -> Raw:
        problems = objects_problems(objects)
        if problems:
            return {"problems": problems}
        return {"resourceVersion": str([self._apply(o) for o in objects][-1] if objects else self.rv)}

    def _delete_all(self, objects: list[Raw]) -> Raw:
        problems = objects_problems(objects)
        for i, obj in enumerate(objects):
            if not problems and _key(obj) not in self.objects[obj["kind"]]:
                problems.append((f"[{i}]", f"no {obj['kind']} {'/'.join(filter(None, _key(obj)))}"))
        if problems:
            return {"problems": problems}
        for obj in objects:
            self._delete(obj["kind"], _key(obj))
        return {"resourceVersion": str(self.rv)}

    # -- HTTP ----------------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _change(self, fn: Callable[[list[Raw]], Raw]) -> Callable[[web.Request], Any]:
        """A stand-in endpoint: a JSON list of objects, checked whole, then changed (or nothing)."""

        async def handle(request: web.Request) -> web.Response:
            if not self._authorized(request):
                return web.json_response(
                    {"kind": "Status", "code": 401, "reason": "Unauthorized"}, status=401
                )
            try:
                objects = await request.json()
            except ValueError:
                return web.json_response({"problems": [["", "the body is not JSON"]]}, status=422)
            if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
                return web.json_response(
                    {"problems": [["", "the body is not a list of objects"]]}, status=422
                )
            answer = fn(objects)
            return web.json_response(answer, status=422 if "problems" in answer else 200)

        return handle

    def _handler(self, kind: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            if not self._authorized(request):
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
        body: Raw = {"kind": f"{kind}List", "apiVersion": API_VERSION.get(kind, "v1"), "metadata": meta}
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


class StandInError(Exception):
    """The stand-in refused a change (every problem, by object index and field) or did not answer."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {why}" if where else why for where, why in problems))


def change(url: str, token: str, verb: str, objects: list[Raw]) -> str:
    """`verb` (apply or delete) `objects` on the stand-in at `url`, all or none; the resourceVersion
    after the change.  Raises `StandInError` naming every refused object."""
    request = urllib.request.Request(
        f"{url}/stand-in/{verb}",
        data=json.dumps(objects).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(json.loads(answer.read())["resourceVersion"])
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
        raise StandInError([tuple(p) for p in body.get("problems", [])] or [("", str(exc))]) from None
    except (OSError, urllib.error.URLError) as exc:
        raise StandInError([("", f"the Kubernetes stand-in at {url} does not answer: {exc}")]) from None


def main(argv: list[str]) -> None:
    """``python -m lab.kube ADDRESS PORT TOKEN_FILE``: serve until killed (the lab's cluster)."""
    address, port, token_file = argv
    standin = KubeStandIn(
        Path(token_file).read_text().strip(), bookmark_every=5.0, host=address, port=int(port)
    )
    standin.start()
    print(f"Kubernetes API STAND-IN on http://{address}:{standin.port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
