"""Kubernetes list+watch of the four kinds the firewall reads, into one in-memory cache per kind.

kubernetes_asyncio supplies the connection (kubeconfig file or in-cluster service account, TLS, tokens)
and the generated list calls; this module reads their raw JSON (`_preload_content=False`), because the
policy compiler takes objects exactly as `kubectl get -o yaml` prints them, and its Watch helper would
resume a 410 Gone from the same (expired) resourceVersion instead of listing again.

One `Reflector` per kind: `step()` lists (paged) when it holds no resourceVersion, else watches from
it with bookmarks until the server ends the stream.  A 410 Gone (list or watch) drops the
resourceVersion, so the next step lists again and replaces the kind's cache whole.  Every change only
calls `on_change()` (mark "sync needed"); retries and backoff belong to the caller's loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config

from fabric.errors import ApplyError

log = logging.getLogger(__name__)

Raw = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped kinds


@dataclass(frozen=True)
class KindSpec:
    """How to list one kind cluster-wide: the API class and method, and the kind of its items."""

    kind: str
    api_version: str
    api: str
    method: str


KINDS: tuple[KindSpec, ...] = (
    KindSpec("Namespace", "v1", "CoreV1Api", "list_namespace"),
    KindSpec("Pod", "v1", "CoreV1Api", "list_pod_for_all_namespaces"),
    KindSpec("Service", "v1", "CoreV1Api", "list_service_for_all_namespaces"),
    KindSpec(
        "NetworkPolicy", "networking.k8s.io/v1", "NetworkingV1Api", "list_network_policy_for_all_namespaces"
    ),
)


class Gone(Exception):
    """410 Gone: the resourceVersion is older than the server keeps; list again."""


def kube_error(what: str, status: int, body: str) -> ApplyError:
    """A failed list or watch: retryable (the loop backs off), with the server's answer."""
    return ApplyError(f"{what}: HTTP {status}: {body[:300]}", retryable=True, phase="kube")


async def connect(kubeconfig: Path | None, context: str | None = None) -> client.ApiClient:
    """An API client from `kubeconfig` (a file), else the in-cluster service account."""
    cfg = client.Configuration()
    if kubeconfig is not None:
        await config.load_kube_config(config_file=str(kubeconfig), context=context, client_configuration=cfg)
    else:
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration=cfg)


@dataclass
class Reflector:
    """The cache of one kind, kept current by list+watch (`step` repeatedly; see the module doc)."""

    spec: KindSpec
    api: client.ApiClient
    on_change: Callable[[], None] = lambda: None
    page: int = 500
    watch_timeout: int = 300
    objects: dict[Key, Raw] = field(default_factory=dict)
    resource_version: str | None = None
    listed: bool = False  # the cache holds one complete list (never a half-read one)
    lists: int = 0
    bookmarks: int = 0
    fresh: bool = False  # the last step was a list

    def _call(self) -> Any:
        return getattr(getattr(client, self.spec.api)(self.api), self.spec.method)

    async def _get(self, what: str, **params: Any) -> Any:
        resp = await self._call()(_preload_content=False, **params)
        try:
            if resp.status == 410:
                raise Gone(what)
            if resp.status >= 300:
                raise kube_error(f"{self.spec.kind} {what}", resp.status, await resp.text())
            return resp if params.get("watch") else await resp.json(content_type=None)
        except BaseException:
            resp.release()
            raise

    async def step(self) -> None:
        """One list (when needed) or one watch stream until the server ends it; raises on errors."""
        since = self.resource_version
        listed = since is None
        try:
            if since is None:
                await self._list()
            else:
                await self._watch(since)
        except Gone:
            version, self.resource_version = self.resource_version, None
            if self.fresh:  # gone straight after a list: the server is unwell, let the loop back off
                self.fresh = False
                raise kube_error(f"{self.spec.kind} watch", 410, "gone right after a list") from None
            log.info("%s: resourceVersion %s gone, listing again", self.spec.kind, version)
        self.fresh = listed

    async def _list(self) -> None:
        items: dict[Key, Raw] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self.page}
            if token:
                params["_continue"] = token
            body = await self._get("list", **params)
            for item in body.get("items") or []:
                obj = self._typed(item)
                items[_key(obj)] = obj
            meta = body.get("metadata") or {}
            token = meta.get("continue") or None
            if token is None:
                break
        self.lists += 1
        changed = not self.listed or items != self.objects
        self.objects, self.resource_version, self.listed = items, str(meta.get("resourceVersion", "")), True
        if changed:
            self.on_change()

    async def _watch(self, since: str) -> None:
        resp = await self._get(
            "watch",
            watch=True,
            resource_version=since,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout,
            _request_timeout=(30, self.watch_timeout + 30),
        )
        try:
            async for line in resp.content:
                if line.strip():
                    self._event(json.loads(line))
        finally:
            resp.release()

    def _event(self, event: Raw) -> None:
        kind, obj = str(event.get("type", "")), event.get("object") or {}
        self.fresh = False
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone("watch")
            raise kube_error(f"{self.spec.kind} watch", int(obj.get("code") or 0), str(obj.get("message")))
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind != "BOOKMARK":
            log.debug("%s %s %s/%s at %s", self.spec.kind, kind.lower(), *_key(obj), rv)
        if kind == "BOOKMARK":
            self.bookmarks += 1
        elif kind in ("ADDED", "MODIFIED"):
            obj = self._typed(obj)
            if self.objects.get(_key(obj)) != obj:
                self.objects[_key(obj)] = obj
                self.on_change()
        elif kind == "DELETED" and self.objects.pop(_key(obj), None) is not None:
            self.on_change()
        if rv:
            self.resource_version = str(rv)

    def _typed(self, obj: Raw) -> Raw:
        # List items carry no kind; the compiler dispatches on it.
        return {**obj, "kind": self.spec.kind, "apiVersion": self.spec.api_version}


def _key(obj: Raw) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class ClusterCache:
    """The four reflectors sharing one `on_change`; `objects()` once every kind has listed."""

    def __init__(self, api: client.ApiClient, on_change: Callable[[], None], *, watch_timeout: int = 300):
        self.api = api
        self.reflectors = [Reflector(spec, api, on_change, watch_timeout=watch_timeout) for spec in KINDS]

    @property
    def ready(self) -> bool:
        """True once every kind has been listed completely (before that, a sync would deny too much)."""
        return all(r.listed for r in self.reflectors)

    def objects(self) -> list[Raw]:
        """Every cached object, in a stable order (kind, namespace, name)."""
        return [r.objects[k] for r in self.reflectors for k in sorted(r.objects)]

    def versions(self) -> dict[str, str | None]:
        """Each kind's resourceVersion (logs, tests)."""
        return {r.spec.kind: r.resource_version for r in self.reflectors}

    async def close(self) -> None:
        await self.api.close()
